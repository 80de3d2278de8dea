"""`ml rollback`: undo the last promote. A running canary ends (the active version stays); without one,
the previous active version becomes active again. Running workers switch between batches."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no options: it always undoes one step


def run(args: argparse.Namespace) -> int:
    from ml import registry
    from ml.registry.settings import RegistrySettings

    connection = RegistrySettings.from_env().connect()
    try:
        before, after = registry.change(connection, registry.rolled_back)
    except registry.RegistryError as exc:
        raise SystemExit(f"ml rollback: {exc}") from None
    if before.canary is not None:
        print(f"ended the canary {before.canary}; the active version stays {after.active}")
    else:
        print(f"active version: {before.active} -> {after.active}")
    print(f"now: {registry.describe(after)}")
    return 0
