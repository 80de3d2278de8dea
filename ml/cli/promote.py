"""`ml promote MODEL [--canary PERCENT]`: make a model file, or a version already stored, the one every
worker serves, or a canary answering that share of photos.

MODEL is a model file (refused unless it loads and predicts; stored in the registry under its version) or a
stored version (or a unique prefix of one, as `ml models` lists them). Without --canary it becomes the active
version: the previous one is kept for `ml rollback` and any canary ends (so `ml promote CANARY_VERSION`
finishes a canary). Running workers switch between batches; an idle one within a few seconds.
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="a model file, or a stored version (or its prefix)")
    parser.add_argument("--canary", type=int, metavar="PERCENT",
                        help="answer this share of photos (1-99) with MODEL, the rest with the active "
                        "version (default: make MODEL the active version)")
    parser.add_argument("--keep", type=int, default=None,
                        help="earlier active versions kept for rollback; the files of older ones are deleted "
                        "(default: MODEL_REGISTRY_KEEP, 3)")


def loaded_record(path: Path) -> tuple[str, str, dict[str, Any]]:
    """(version, name, metrics) of a model file that loads and predicts, or exit saying why it is refused."""
    from ml.serving.loading import load_classifier

    try:
        classifier = load_classifier(path, device="cpu", backend="torch")
        classifier.warmup()
    except Exception as exc:  # any way a file fails to load is a reason to refuse it
        raise SystemExit(f"{path}: refused, it does not load as a model file: {exc}") from None
    return classifier.version, classifier.name, classifier.spec.metrics


def run(args: argparse.Namespace) -> int:
    from ml import registry
    from ml.registry.settings import RegistrySettings

    settings = RegistrySettings.from_env()
    keep = settings.model_registry_keep if args.keep is None else args.keep
    if keep < 0:
        raise SystemExit("--keep: must be 0 or more")
    connection = settings.connect()
    path = Path(args.model)
    try:
        if path.is_file():
            version, name, metrics = loaded_record(path)
            record = registry.store(connection, path, version, name, metrics)
            print(f"stored {version} ({name}, {record.size / 1e6:.1f} MB) from {path}")
        elif path.suffix or "/" in args.model:  # meant as a file, not a version
            raise SystemExit(f"ml promote: no model file at {path}")
        else:
            version = registry.resolve(connection, args.model)
            registry.touch(connection, version)
        step = (partial(registry.promoted, version=version, keep=keep) if args.canary is None
                else partial(registry.with_canary, version=version, percent=args.canary))
        before, after = registry.change(connection, step, prune=True)
    except registry.RegistryError as exc:
        raise SystemExit(f"ml promote: {exc}") from None
    print(f"was: {registry.describe(before)}")
    print(f"now: {registry.describe(after)}")
    print("running workers switch between batches (an idle one within a few seconds)")
    return 0
