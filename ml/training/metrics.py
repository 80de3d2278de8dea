"""Evaluation metrics on label indices: the reference's accuracy (eq. 12) and weighted accuracy (eq. 13),
per-label precision/recall, the confusion matrix, and the coverage/precision curve of abstaining.

Eq. (12): accuracy = (1/N) * sum_i [y_pred_i == y_i] over all photos.
Eq. (13): weighted accuracy = (1/|L|) * sum_{l in L} recall_l over the labels L present in the ground truth,
i.e. class-balanced accuracy, so a rare tag counts as much as `other`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def accuracy(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    true, pred = np.asarray(y_true), np.asarray(y_pred)
    if len(true) == 0:
        raise ValueError("accuracy of zero photos is undefined")
    return float((true == pred).mean())


def confusion(y_true: Sequence[int], y_pred: Sequence[int], num_labels: int) -> np.ndarray:
    """[true, predicted] counts."""
    matrix = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return matrix


def per_label(y_true: Sequence[int], y_pred: Sequence[int], num_labels: int) -> list[dict[str, float]]:
    """precision, recall and support per label (precision is 0 for a label never predicted)."""
    matrix = confusion(y_true, y_pred, num_labels)
    hits, support, predicted = np.diag(matrix), matrix.sum(axis=1), matrix.sum(axis=0)
    return [
        {
            "precision": float(hits[i] / predicted[i]) if predicted[i] else 0.0,
            "recall": float(hits[i] / support[i]) if support[i] else 0.0,
            "support": int(support[i]),
        }
        for i in range(num_labels)
    ]


def weighted_accuracy(y_true: Sequence[int], y_pred: Sequence[int], num_labels: int) -> float:
    stats = [s for s in per_label(y_true, y_pred, num_labels) if s["support"] > 0]
    if not stats:
        raise ValueError("weighted accuracy of zero photos is undefined")
    return float(np.mean([s["recall"] for s in stats]))


@dataclass(frozen=True)
class AbstainPoint:
    threshold: float
    coverage: float  # share of photos that get a suggestion
    precision: float  # share of those suggestions that are the photo's true tag


def abstain_curve(
    y_true: Sequence[int], y_pred: Sequence[int], confidence: Sequence[float], other: int, steps: int = 100
) -> list[AbstainPoint]:
    """Suggest y_pred only when it is not `other` and confidence >= t, for t = 0, 1/steps, ..., 1."""
    true, pred, conf = np.asarray(y_true), np.asarray(y_pred), np.asarray(confidence)
    points = []
    for step in range(steps + 1):
        t = step / steps
        suggested = (pred != other) & (conf >= t)
        count = int(suggested.sum())
        precision = float((pred[suggested] == true[suggested]).mean()) if count else 1.0
        points.append(AbstainPoint(round(t, 6), count / len(true), precision))
    return points


def recommend_threshold(curve: Sequence[AbstainPoint], target_precision: float) -> float:
    """The lowest threshold whose suggestions reach `target_precision` (most coverage at that precision);
    if none does, the one with the best precision among those still covering >= 10% of photos."""
    reaching = [p for p in curve if p.precision >= target_precision and p.coverage > 0]
    if reaching:
        return min(p.threshold for p in reaching)
    usable = [p for p in curve if p.coverage >= 0.1] or list(curve)
    return max(usable, key=lambda p: (p.precision, -p.threshold)).threshold


def summarize(y_true: Sequence[int], probabilities: np.ndarray, labels: Sequence[str], other: int,
              target_precision: float) -> dict:
    """The report of one evaluation: accuracy, weighted accuracy, per-label P/R, abstain curve + threshold."""
    pred = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    curve = abstain_curve(y_true, pred, confidence, other)
    return {
        "photos": len(y_true),
        "accuracy": accuracy(y_true, pred),
        "weighted_accuracy": weighted_accuracy(y_true, pred, len(labels)),
        "per_tag": dict(zip(labels, per_label(y_true, pred, len(labels)), strict=True)),
        "abstain_curve": [vars(p) for p in curve],
        "recommended_threshold": recommend_threshold(curve, target_precision),
        "target_precision": target_precision,
    }
