"""`ml record`: write an `ml evaluate` report into a copy of the model file it measured: the remap and tag
balance it was evaluated under and its metrics (under a key such as `heldout_tta1`), so `ml models` and
`ml compare` show them. The abstain threshold stays the one calibrated on validation photos unless
--adopt-threshold is given."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)
METRIC_KEYS = ("photos", "per_class", "accuracy", "weighted_accuracy", "scene_accuracy", "per_tag",
               "coverage_at_precision_90", "suggestions")
EMBEDDED = "embedded in the model"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="the model file the report measured")
    parser.add_argument("--report", required=True, help="report.json written by `ml evaluate`")
    parser.add_argument("--out", required=True, help="the copy to write (may be MODEL itself)")
    parser.add_argument("--adopt-threshold", action="store_true",
                        help="also store the report's recommended abstain threshold "
                        "(default: keep the model's)")


def metrics_key(report: dict[str, Any]) -> str:
    subset = f"_{report['per_class']}perclass" if report.get("per_class") else ""
    return f"{report['part']}{subset}_tta{report['tta']}"


def run(args: argparse.Namespace) -> int:
    from ml.serving.inference import remap_for
    from ml.serving.model import file_version, read_model_file, save_with_spec
    from ml.training.labels import load_remap

    report = json.loads(Path(args.report).read_text())
    version = file_version(args.model)
    if report.get("model_version") != version:
        raise SystemExit(f"{args.report} measured model version {report.get('model_version')}, "
                         f"but {args.model} is version {version}: evaluate this file first")
    spec, state = read_model_file(args.model)
    if report["remap"] != EMBEDDED:
        spec.remap = remap_for(spec, load_remap(report["remap"]))
    if args.adopt_threshold:
        spec.threshold = report["recommended_threshold"]
    spec.tag_balance = report["tag_balance"]
    key = metrics_key(report)
    spec.metrics[key] = {k: report[k] for k in METRIC_KEYS if k in report}
    save_with_spec(args.out, spec, state)
    logger.info("wrote %s (threshold %.2f) with metrics %s", args.out, spec.threshold, key)
    print(json.dumps({"model": args.out, "version": file_version(args.out), "metrics": key}))
    return 0
