"""`ml evaluate`: accuracy and weighted accuracy (eqs. 12, 13), per-tag precision/recall, a confusion-matrix
PNG, a gallery PNG of the most confident right and wrong predictions, the abstain coverage/precision curve
with the threshold it recommends, all in a JSON report.

Ground truth is each photo's folder class through the remap: the model's own, or `--remap CSV` to see a
scene-target model under another mapping without retraining; `ml record` then writes that remap and these
metrics into a copy of the model file.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from ml.serving.images import load_image
from ml.tags import ALL_LABELS, OTHER
from ml.training import data as ds

if TYPE_CHECKING:
    from ml.serving.model import ModelSpec

logger = logging.getLogger(__name__)
GALLERY_SIZE = 8


def select_samples(args: argparse.Namespace) -> list[ds.Sample]:
    samples = ds.read_split(Path(args.split), args.part) if args.split else ds.scan(args.data)
    if args.per_class:
        samples = ds.stratified_subset(samples, args.per_class, args.seed)
    return samples


def true_labels(samples: list[ds.Sample], remap: dict[str, str]) -> np.ndarray:
    """Each photo's ground-truth label index: its folder's scene through `remap` (unmapped: `other`)."""
    return np.array([ALL_LABELS.index(remap.get(s.scene, OTHER)) for s in samples])


def suggestion_report(truth: np.ndarray, probabilities: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
    """What the worker's abstain rule (the model file's thresholds) does on these photos: the share it
    suggests for and how many of those are right; and the coverage one global threshold reaches at
    precision 0.90, a yardstick independent of the file's thresholds."""
    from ml.training.calibration import coverage_at_precision, rule_stats

    other = ALL_LABELS.index(OTHER)
    coverage, precision = rule_stats(
        truth, probabilities.argmax(axis=1), probabilities.max(axis=1), other=other, default=spec.threshold,
        per_tag={ALL_LABELS.index(tag): value for tag, value in spec.tag_thresholds.items()})
    at_90, threshold_90 = coverage_at_precision(truth, probabilities, other, 0.90)
    return {"suggestions": {"coverage": coverage, "precision": precision, "threshold": spec.threshold,
                            "tag_thresholds": spec.tag_thresholds},
            "ranked": ranked_report(truth, probabilities, spec),
            "coverage_at_precision_90": at_90, "threshold_at_precision_90": threshold_90}


def ranked_report(truth: np.ndarray, probabilities: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
    """What users get from the file's whole rule, single tags and lists (ml.training.calibration's
    ListOutcome), and the ranking measures of the hashtag-recommendation literature over all photos:
    P@1 (the top label is the photo's) and accuracy@3 (the photo's label is among the top three)."""
    from ml.training.calibration import list_outcome

    outcome = list_outcome(probabilities, truth, threshold=spec.threshold, tag_thresholds=spec.tag_thresholds,
                           list_mass=spec.list_mass, list_max_tags=spec.list_max_tags)
    top3 = np.argsort(-probabilities, axis=1, kind="stable")[:, :3]
    return {"list_mass": spec.list_mass, "list_max_tags": spec.list_max_tags, **outcome.__dict__,
            "p_at_1": float((top3[:, 0] == truth).mean()),
            "accuracy_at_3": float((top3 == truth[:, None]).any(axis=1).mean())}


def gallery_picks(correct: np.ndarray, confidence: np.ndarray, size: int) -> tuple[list[int], list[int]]:
    """Indices of the `size` most confident correct and the `size` most confident wrong predictions."""
    order = np.argsort(-confidence, kind="stable")
    right = [int(i) for i in order if correct[i]][:size]
    wrong = [int(i) for i in order if not correct[i]][:size]
    return right, wrong


def save_confusion_png(path: Path, matrix: np.ndarray, labels: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros_like(matrix, dtype=float), where=rows > 0)
    fig, ax = plt.subplots(figsize=(11, 10))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=90)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (row-normalised; numbers are photo counts)")
    for (r, c), count in np.ndenumerate(matrix):
        if count:
            ax.text(c, r, str(count), ha="center", va="center", fontsize=6,
                    color="white" if share[r, c] > 0.5 else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save_gallery_png(path: Path, root: Path, rows: list[tuple[str, list[tuple[ds.Sample, str]]]]) -> None:
    """Each row: a title and (photo, caption) pairs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = max((len(items) for _, items in rows), default=1) or 1
    fig, axes = plt.subplots(len(rows), columns, figsize=(2.2 * columns, 2.6 * len(rows)), squeeze=False)
    for r, (title, items) in enumerate(rows):
        for c in range(columns):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(items):
                sample, caption = items[c]
                ax.imshow(load_image(root / sample.path))
                ax.set_title(caption, fontsize=7)
        axes[r][0].text(0, -0.25, title, transform=axes[r][0].transAxes, fontsize=10, weight="bold")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def load_classifier(args: argparse.Namespace, onnx_dir: Path) -> Any:
    """The model of --model on --device with --backend, --precision and --threads
    (`add_machine_arguments`)."""
    from ml.serving.loading import load_classifier as load

    try:
        return load(args.model, args.device, args.backend, args.threads, onnx_dir, precision=args.precision)
    except ValueError as exc:
        raise SystemExit(f"ml: {exc}") from None


def predict_class_probabilities(
    classifier: Any,
    root: Path,
    samples: list[ds.Sample],
    tta: int,
    batch_size: int,
    *,
    load: Callable[[Path], Image.Image] = load_image,
) -> Any:
    """[photos, classes] probabilities as the model outputs them (before its temperature), in batches;
    `load` turns a photo's path into the image the model sees."""
    import torch

    chunks = []
    for start in range(0, len(samples), batch_size):
        chunk = samples[start:start + batch_size]
        chunks.append(classifier.class_probabilities([load(root / s.path) for s in chunk], tta))
        logger.info("%d / %d photos", min(start + batch_size, len(samples)), len(samples))
    return torch.cat(chunks)


def run(args: argparse.Namespace) -> int:
    import torch

    from ml.serving.inference import label_matrix, tag_probabilities, temper
    from ml.training.labels import load_remap
    from ml.training.metrics import accuracy, confusion, summarize, weighted_accuracy

    torch.set_num_threads(args.threads)
    root = Path(args.data)
    samples = select_samples(args)
    classifier = load_classifier(args, Path(args.output) / "onnx")
    if args.remap:
        classifier.set_remap(load_remap(args.remap))
    if args.tag_balance is not None:
        classifier.spec.tag_balance = args.tag_balance
    truth = true_labels(samples, classifier.spec.remap)

    began = time.monotonic()
    raw = predict_class_probabilities(classifier, root, samples, args.tta, args.batch_size)
    seconds = time.monotonic() - began
    class_p = temper(raw, classifier.spec.temperature)
    matrix = label_matrix(classifier.spec)
    probabilities = tag_probabilities(class_p, matrix, classifier.spec.tag_balance).numpy()

    report: dict[str, Any] = {
        "model": str(args.model), "model_name": classifier.name, "model_version": classifier.version,
        "data": str(root), "split": args.split, "part": args.part if args.split else "all",
        "per_class": args.per_class, "tta": args.tta, "remap": args.remap or "embedded in the model",
        "tag_balance": classifier.spec.tag_balance,
        "seconds": round(seconds, 1), "photos_per_second": round(len(samples) / seconds, 2),
    }
    report |= summarize(truth, probabilities, ALL_LABELS, ALL_LABELS.index(OTHER), args.target_precision)
    report |= suggestion_report(truth, probabilities, classifier.spec)
    if classifier.spec.target == "scenes":
        top_scene = [classifier.spec.classes[i] for i in class_p.argmax(dim=1).tolist()]
        hits = [top == sample.scene for top, sample in zip(top_scene, samples, strict=True)]
        report["scene_accuracy"] = float(np.mean(hits))
        report["tag_balance_sweep"] = [
            {"tag_balance": b, "accuracy": accuracy(truth, swept), "weighted_accuracy":
             weighted_accuracy(truth, swept, len(ALL_LABELS))}
            for b in (0.0, 0.25, 0.5, 0.75, 1.0)
            for swept in [tag_probabilities(class_p, matrix, b).numpy().argmax(axis=1)]
        ]

    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    predicted = probabilities.argmax(axis=1)
    present = sorted(set(truth.tolist()) | set(predicted.tolist()))
    matrix = confusion(truth, predicted, len(ALL_LABELS))[np.ix_(present, present)]
    save_confusion_png(output / "confusion.png", matrix, [ALL_LABELS[i] for i in present])
    confidence = probabilities.max(axis=1)
    right, wrong = gallery_picks(predicted == truth, confidence, GALLERY_SIZE)

    def caption(i: int) -> str:
        return f"{ALL_LABELS[predicted[i]]} {confidence[i]:.2f}\ntrue {ALL_LABELS[truth[i]]}"

    save_gallery_png(output / "gallery.png", root, [
        ("most confident correct", [(samples[i], caption(i)) for i in right]),
        ("most confident wrong", [(samples[i], caption(i)) for i in wrong]),
    ])
    (output / "report.json").write_text(json.dumps(report, indent=1))
    if args.save_probabilities:
        # What moderation's evaluation reads (`python -m moderation.evaluate --predictions FILE`).
        np.savez_compressed(args.save_probabilities, labels=np.array(ALL_LABELS),
                            probabilities=probabilities.astype(np.float32),
                            true_tags=np.array([ALL_LABELS[i] for i in truth]),
                            paths=np.array([s.path for s in samples]))
    logger.info("accuracy %.4f weighted %.4f on %d photos (tta %d); recommended threshold %.2f; report in %s",
                report["accuracy"], report["weighted_accuracy"], len(samples), args.tta,
                report["recommended_threshold"], output)
    print(json.dumps({k: report[k] for k in ("photos", "tta", "accuracy", "weighted_accuracy",
                                             "coverage_at_precision_90", "suggestions", "ranked")}))
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model file")
    add_photo_arguments(parser)
    parser.add_argument("--tta", type=int, default=1, help="test-time copies averaged per photo (default: 1)")
    parser.add_argument("--remap", help="evaluate under this scene -> hashtag CSV (default: the model's own)")
    parser.add_argument("--tag-balance", type=float,
                        help="override the model's tag balance, 0..1 (default: the model's own)")
    parser.add_argument("--target-precision", type=float, default=0.85,
                        help="precision the recommended abstain threshold aims at (default: 0.85)")
    parser.add_argument("--save-probabilities",
                        help="also write the photos' tag probabilities and true tags to this .npz, e.g. for "
                        "moderation's evaluation (default: none)")
    parser.add_argument("--output", default="runs/evaluate", help="report folder (default: runs/evaluate)")
    add_machine_arguments(parser)


def add_photo_arguments(parser: argparse.ArgumentParser) -> None:
    """Which photos (`select_samples` reads these): shared by `ml evaluate` and `ml compare`."""
    parser.add_argument("--data", required=True, help="photo folder in SUN397 layout")
    parser.add_argument("--split", help="split file (`ml split`, or a run's split.json; default: every photo "
                        "under --data)")
    parser.add_argument("--part", default="heldout", choices=ds.SPLIT_PARTS,
                        help="which part of --split (default: heldout)")
    parser.add_argument("--per-class", type=int,
                        help="a seeded subset of at most N photos per class (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the --per-class subset (default: 0)")


def add_machine_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the forward passes run (`load_classifier` reads these)."""
    parser.add_argument("--batch-size", type=int, default=64, help="photos per predict call (default: 64)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    parser.add_argument("--backend", default="auto", choices=("auto", "torch", "onnx"),
                        help="forward pass: auto is ONNX Runtime on the CPU, torch on CUDA (default: auto)")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "int8"),
                        help="ONNX Runtime's arithmetic: auto is the file's int8 graph (`ml quantize`) when "
                        "it has one, else fp32 (default: auto)")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads; 1 is fastest on a busy shared machine (default: 1)")
