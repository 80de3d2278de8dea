"""`ml compare A.pt B.pt`: the incumbent A and the candidate B on the same photos, paired, before promoting B.

Each model's tags are computed as the worker serves them: its own temperature, tag balance and abstain
thresholds, and its recommended TTA unless `--tta` sets one for both. For each: tag accuracy and weighted
accuracy (eqs. 12, 13), the coverage one threshold reaches at precision 0.90, and the coverage and precision
of the model's own suggestions. Then McNemar's exact test on the paired correctness of the top tag
(ml.training.significance) and a verdict that calls B better only when it is significantly so.

`--telegram-size-a/-b` show each model the photos as the worker gets them from the bot: each photo enlarged
to Telegram's 1280 px long side (the user's original), the JPEG copy the bot downloads (`largest`, or `fit`:
the smallest whose short side reaches the model's input, ml.photo_sizes), decoded as the worker decodes it.
Comparing a model with itself, largest against fit, measures what downloading the smaller copy costs.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ml.cli.evaluate import add_machine_arguments, add_photo_arguments
from ml.photo_sizes import TELEGRAM_LONG_SIDES, fitting_size
from ml.training import data as ds

TELEGRAM_JPEG_QUALITY = 87  # about what Telegram's copies are encoded with

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_a", metavar="A", help="the incumbent model file (the one serving now)")
    parser.add_argument("model_b", metavar="B", help="the candidate model file")
    add_photo_arguments(parser)
    parser.add_argument("--tta", type=int,
                        help="test-time copies for both models (default: each model's recommended TTA, "
                        "as the worker serves it)")
    for name in ("a", "b"):
        parser.add_argument(f"--telegram-size-{name}", choices=("largest", "fit"),
                            help=f"show {name.upper()} each photo as Telegram's copy the bot downloads: the "
                            "largest (1280 px long side) or the smallest that fits the model's input "
                            "(default: the photo file as it is)")
    parser.add_argument("--alpha", type=float, default=0.05,
                        help="significance level of the McNemar test (default: 0.05)")
    parser.add_argument("--json", help="also write the comparison to this JSON file (default: none)")
    parser.add_argument("--onnx-cache", default="runs/onnx",
                        help="folder of the models' ONNX exports, reused by version (default: runs/onnx)")
    add_machine_arguments(parser)


def telegram_copy(image: Image.Image, choice: str, input_side: int) -> bytes:
    """The JPEG the bot downloads of `image` sent as a photo: enlarged or shrunk to Telegram's largest long
    side (the original), then Telegram's copy that `choice` picks (largest, or fit: ml.photo_sizes)."""
    scale = [side / max(image.size) for side in TELEGRAM_LONG_SIDES]
    sizes = [(max(1, round(image.width * s)), max(1, round(image.height * s))) for s in scale]
    chosen = sizes[fitting_size(sizes, input_side if choice == "fit" else None)]
    buffer = io.BytesIO()
    image.convert("RGB").resize(chosen, Image.Resampling.BICUBIC).save(
        buffer, "JPEG", quality=TELEGRAM_JPEG_QUALITY)
    return buffer.getvalue()


def photo_loader(choice: str | None, input_side: int) -> Callable[[Path], Image.Image]:
    """Path -> the image the model sees: the file itself, or its Telegram copy decoded as the worker does
    (JPEG draft mode down to twice the model's input, `worker.jobs.load_engine`)."""
    from ml.serving.images import decode_image, load_image

    if choice is None:
        return load_image
    return lambda path: decode_image(telegram_copy(load_image(path), choice, input_side),
                                     min_side=2 * input_side)


def served_tags(
    args: argparse.Namespace, classifier: Any, samples: list[ds.Sample], telegram_size: str | None = None
) -> tuple[int, np.ndarray]:
    """(TTA used, [photos, ALL_LABELS] tag probabilities as the worker computes them)."""
    from ml.cli.evaluate import predict_class_probabilities
    from ml.serving.inference import label_matrix, tag_probabilities, temper

    spec = classifier.spec
    tta = args.tta or spec.recommended_tta
    raw = predict_class_probabilities(classifier, Path(args.data), samples, tta, args.batch_size,
                                      load=photo_loader(telegram_size, classifier.input_size))
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
    sizes = {"A": args.telegram_size_a, "B": args.telegram_size_b}
    runs = {name: served_tags(args, classifier, samples, sizes[name])
            for name, classifier in classifiers.items()}
    models = {name: model_report(paths[name], classifiers[name], *runs[name], truth)
              | {"backend": classifiers[name].backend, "telegram_size": sizes[name]} for name in paths}
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
             f"{'TTA':<28} {a['tta']:>14} {b['tta']:>14}",
             f"{'backend':<28} {a.get('backend', ''):>14} {b.get('backend', ''):>14}",
             f"{'photo':<28} {a.get('telegram_size') or 'file':>14} {b.get('telegram_size') or 'file':>14}"]
    rows = [(label, a[key], b[key]) for label, key in ROWS]
    rows += [(f"suggestions: {key}", a["suggestions"][key], b["suggestions"][key])
             for key in ("coverage", "precision")]
    # What users get from each file's whole answer rule (one sure tag, else a ranked list).
    rows += [(f"answers: {label}", a["ranked"][key], b["ranked"][key]) for label, key in
             (("share answered", "answered"), ("right tag in", "hit_rate"),
              ("single right", "single_precision"), ("tags per answer", "mean_size"),
              ("accuracy@3", "accuracy_at_3"))]
    lines += [f"{label:<28} {x:>14.4f} {y:>14.4f} {y - x:>+8.4f}" for label, x, y in rows]
    m = report["mcnemar"]
    lines += [f"top tag, paired: both right {m['both_right']}, only A right {m['only_a_right']}, "
              f"only B right {m['only_b_right']}, both wrong {m['both_wrong']}",
              f"A = {a['path']}, B = {b['path']}",
              f"verdict (McNemar exact): {report['verdict']}"]
    return "\n".join(lines)
