"""`ml compare A.pt B.pt`: the incumbent A and the candidate B on the same photos, paired, before promoting B.

Each model's tags are computed as the worker serves them: its own temperature, tag balance and abstain
thresholds, and its recommended TTA unless `--tta` sets one for both. For each: tag accuracy and weighted
accuracy (eqs. 12, 13), the coverage one threshold reaches at precision 0.90, and the coverage and precision
of the model's own suggestions. Then McNemar's exact test on the paired correctness of the top tag
(ml.training.significance) and a verdict that calls B better only when it is significantly so.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from ml.cli.evaluate import add_machine_arguments, add_photo_arguments
from ml.training import data as ds

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_a", metavar="A", help="the incumbent model file (the one serving now)")
    parser.add_argument("model_b", metavar="B", help="the candidate model file")
    add_photo_arguments(parser)
    parser.add_argument("--tta", type=int,
                        help="test-time copies for both models (default: each model's recommended TTA, "
                        "as the worker serves it)")
    parser.add_argument("--alpha", type=float, default=0.05,
                        help="significance level of the McNemar test (default: 0.05)")
    parser.add_argument("--json", help="also write the comparison to this JSON file (default: none)")
    parser.add_argument("--onnx-cache", default="runs/onnx",
                        help="folder of the models' ONNX exports, reused by version (default: runs/onnx)")
    add_machine_arguments(parser)


def served_tags(
    args: argparse.Namespace, classifier: Any, samples: list[ds.Sample]
) -> tuple[int, np.ndarray]:
    """(TTA used, [photos, ALL_LABELS] tag probabilities as the worker computes them)."""
    from ml.cli.evaluate import predict_class_probabilities
    from ml.serving.inference import label_matrix, tag_probabilities, temper

    spec = classifier.spec
    tta = args.tta or spec.recommended_tta
    raw = predict_class_probabilities(classifier, Path(args.data), samples, tta, args.batch_size)
    return tta, tag_probabilities(temper(raw, spec.temperature), label_matrix(spec), spec.tag_balance).numpy()


def model_report(
    path: str, classifier: Any, tta: int, probabilities: np.ndarray, truth: np.ndarray
) -> dict[str, Any]:
    """The model's scores on these photos, as the JSON report and the table show them."""
    from ml.cli.evaluate import suggestion_report
    from ml.tags import ALL_LABELS
    from ml.training.metrics import accuracy, weighted_accuracy

    predicted = probabilities.argmax(axis=1)
    return {"path": path, "name": classifier.name, "version": classifier.version, "tta": tta,
            "temperature": classifier.spec.temperature, "tag_balance": classifier.spec.tag_balance,
            "accuracy": accuracy(truth, predicted),
            "weighted_accuracy": weighted_accuracy(truth, predicted, len(ALL_LABELS)),
            **suggestion_report(truth, probabilities, classifier.spec)}


def differing_scenes(samples: list[ds.Sample], truth_a: np.ndarray, truth_b: np.ndarray) -> list[str]:
    return sorted({s.scene for s, a, b in zip(samples, truth_a, truth_b, strict=True) if a != b})


def run(args: argparse.Namespace) -> int:
    import torch

    from ml.cli.evaluate import load_classifier, select_samples, true_labels
    from ml.training.significance import judge, paired_counts

    torch.set_num_threads(args.threads)
    if args.tta is not None and args.tta < 1:
        raise SystemExit(f"ml compare: --tta must be at least 1, got {args.tta}")
    if not 0 < args.alpha < 1:
        raise SystemExit(f"ml compare: --alpha must be between 0 and 1, got {args.alpha}")
    paths = {"A": args.model_a, "B": args.model_b}
    for path in paths.values():
        if not Path(path).is_file():
            raise SystemExit(f"ml compare: no model file {path}")
    try:
        samples = select_samples(args)
    except (OSError, ValueError) as error:
        raise SystemExit(f"ml compare: {error}") from None
    classifiers = {name: load_classifier(argparse.Namespace(**{**vars(args), "model": path}),
                                         Path(args.onnx_cache))
                   for name, path in paths.items()}
    truths = {name: true_labels(samples, classifier.spec.remap) for name, classifier in classifiers.items()}
    if different := differing_scenes(samples, truths["A"], truths["B"]):
        raise SystemExit(f"ml compare: the models map {len(different)} scene(s) of these photos to different "
                         f"tags ({', '.join(different[:5])}), so their accuracies are not comparable; give "
                         "both the same remap first (ml evaluate --remap CSV, then ml record)")
    truth = truths["A"]
    runs = {name: served_tags(args, classifier, samples) for name, classifier in classifiers.items()}
    models = {name: model_report(paths[name], classifiers[name], *runs[name], truth) for name in paths}
    correct = {name: probabilities.argmax(axis=1) == truth for name, (_, probabilities) in runs.items()}
    counts = paired_counts(correct["A"], correct["B"])
    verdict = judge(counts.only_a_right, counts.only_b_right, args.alpha)
    report = {
        "data": str(args.data), "split": args.split, "part": args.part if args.split else "all",
        "per_class": args.per_class, "photos": len(samples), "models": models,
        "mcnemar": {**vars(counts), "p_value": verdict.p_value, "alpha": args.alpha},
        "decision": verdict.decision, "verdict": verdict.text,
    }
    print(format_table(report))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=1))
        logger.info("wrote %s", args.json)
    return 0


ROWS = (("tag accuracy", "accuracy"), ("weighted accuracy", "weighted_accuracy"),
        ("coverage at precision 0.90", "coverage_at_precision_90"))


def format_table(report: dict[str, Any]) -> str:
    a, b = report["models"]["A"], report["models"]["B"]
    lines = [f"{report['photos']} photos of {report['data']} ({report['part']})",
             f"{'':<28} {'A (incumbent)':>14} {'B (candidate)':>14} {'B - A':>8}",
             f"{'version':<28} {a['version'][:14]:>14} {b['version'][:14]:>14}",
             f"{'TTA':<28} {a['tta']:>14} {b['tta']:>14}"]
    rows = [(label, a[key], b[key]) for label, key in ROWS]
    rows += [(f"suggestions: {key}", a["suggestions"][key], b["suggestions"][key])
             for key in ("coverage", "precision")]
    lines += [f"{label:<28} {x:>14.4f} {y:>14.4f} {y - x:>+8.4f}" for label, x, y in rows]
    m = report["mcnemar"]
    lines += [f"top tag, paired: both right {m['both_right']}, only A right {m['only_a_right']}, "
              f"only B right {m['only_b_right']}, both wrong {m['both_wrong']}",
              f"A = {a['path']}, B = {b['path']}",
              f"verdict (McNemar exact): {report['verdict']}"]
    return "\n".join(lines)
