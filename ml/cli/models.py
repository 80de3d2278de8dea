"""`ml models [--json]`: the versions stored in the model registry, which one is active, which is the
canary (and its share), which ones `ml rollback` can return to, and the headline metrics in each file."""

from __future__ import annotations

import argparse
import json
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ml.registry import RegistryState

# Metrics written by `ml record` (e.g. heldout_tta1) or `ml train` (validation): the held-out ones first.
MEASURED_FIRST = ("heldout", "test", "validation")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print the state and every record as JSON (default: a table)")


def rank(key: str) -> int:
    return next((i for i, prefix in enumerate(MEASURED_FIRST) if key.startswith(prefix)), len(MEASURED_FIRST))


def headline(metrics: dict[str, Any]) -> str:
    """The file's most telling measurement in one cell: held-out accuracy before validation, else the
    coverage and precision of the abstain rule `ml calibrate` chose; '-' when the file carries none."""
    measured = sorted((k for k, v in metrics.items() if isinstance(v, dict) and "accuracy" in v), key=rank)
    if measured:
        value = metrics[measured[0]]
        text = f"{measured[0]}: accuracy {value['accuracy']:.3f}"
        if "weighted_accuracy" in value:
            text += f", weighted {value['weighted_accuracy']:.3f}"
        return text
    calibration = metrics.get("calibration") or {}
    rule = calibration.get(f"{calibration.get('chosen')}_rule")
    if isinstance(rule, dict) and {"coverage", "precision"} <= set(rule):
        return f"calibration: coverage {rule['coverage']:.3f} at precision {rule['precision']:.3f}"
    return "-"


def marks(version: str, state: RegistryState) -> str:
    """What the version does now: active, canary (with its share), or a rollback target (-1: the next)."""
    if version == state.active:
        return "active"
    if version == state.canary:
        return f"canary {state.canary_percent}%"
    if version in state.history:
        return f"rollback -{len(state.history) - state.history.index(version)}"
    return ""


def table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
                     for row in rows)


def run(args: argparse.Namespace) -> int:
    from ml import registry
    from ml.registry.settings import RegistrySettings

    connection = RegistrySettings.from_env().connect()
    state, records = registry.read_state(connection), registry.read_records(connection)
    ordered = sorted(records.values(), key=lambda r: r.promoted_at, reverse=True)
    if args.json:
        versions = [record.model_dump() for record in ordered]
        print(json.dumps({"state": state.model_dump(), "versions": versions}, indent=1))
        return 0
    print(registry.describe(state))
    if not ordered:
        print("no version stored: `ml promote MODEL.pt` stores one")
        return 0
    rows = [["version", "serving", "name", "MB", "promoted (UTC)", "by", "metrics"]]
    for record in ordered:
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(record.promoted_at))
        rows.append([record.version, marks(record.version, state), record.name, f"{record.size / 1e6:.1f}",
                     when, record.promoted_by, headline(record.metrics)])
    print(table(rows))
    return 0
