"""Calibration and the abstain rule of a model file, chosen on validation photos (`ml calibrate`).

- Temperature: the class probabilities p become softmax(log p / T) before they are summed into tags (for an
  ensemble, p is already the members' average, so this is temperature scaling of the averaged
  log-probabilities). T is fitted to minimise the negative log-likelihood of the true tag.
- Thresholds: suggest the argmax tag t when it is not `other` and its probability is at least t's threshold.
  One global threshold is the lowest reaching the target precision; per-tag thresholds maximise coverage at
  the same overall precision (a Lagrangian sweep: for a price mu per wrong suggestion, each tag independently
  keeps its most confident predictions while they pay for themselves), for tags with enough validation
  predictions to estimate their curve.
Functions of arrays only: what `ml calibrate` measures is testable on small ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ml.serving.inference import tag_probabilities, temper
from ml.training.metrics import abstain_curve

TEMPERATURES = tuple(round(0.5 + 0.05 * i, 2) for i in range(51))  # 0.5 .. 3.0
# Tags predicted fewer times than this on validation keep the global threshold: their own curve is noise.
MIN_TAG_PREDICTIONS = 40


def tag_nll(tag_p: np.ndarray, y_true: np.ndarray) -> float:
    return float(-np.log(np.clip(tag_p[np.arange(len(y_true)), y_true], 1e-12, None)).mean())


def expected_calibration_error(tag_p: np.ndarray, y_true: np.ndarray, bins: int = 15) -> float:
    """Mean |confidence - accuracy| of the argmax over equal-width confidence bins, weighted by photos."""
    confidence, correct = tag_p.max(axis=1), tag_p.argmax(axis=1) == y_true
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            error += members.mean() * abs(confidence[members].mean() - correct[members].mean())
    return float(error)


def fit_temperature(class_p: torch.Tensor, matrix: torch.Tensor, balance: float, y_true: np.ndarray) -> float:
    """The T of TEMPERATURES with the lowest tag NLL (a grid: robust, and T only needs two decimals)."""

    def nll(t: float) -> float:
        return tag_nll(tag_probabilities(temper(class_p, t), matrix, balance).numpy(), y_true)

    return min(TEMPERATURES, key=lambda t: (nll(t), t))


@dataclass(frozen=True)
class AbstainRule:
    default: float  # threshold of every tag not in `per_tag`
    per_tag: dict[int, float]  # label index -> its own threshold
    coverage: float  # on the photos it was chosen on
    precision: float


def suggested_mask(
    pred: np.ndarray, confidence: np.ndarray, other: int, default: float, per_tag: Mapping[int, float]
) -> np.ndarray:
    thresholds = np.full(int(max(pred.max(initial=0), other)) + 1, default)
    for label, value in per_tag.items():
        if label < len(thresholds):
            thresholds[label] = value
    return (pred != other) & (confidence >= thresholds[pred])


def rule_stats(
    y_true: np.ndarray, pred: np.ndarray, confidence: np.ndarray, *, other: int, default: float,
    per_tag: Mapping[int, float],
) -> tuple[float, float]:
    """(coverage, precision) of suggesting by these thresholds; precision 1 when nothing is suggested."""
    mask = suggested_mask(pred, confidence, other, default, per_tag)
    count = int(mask.sum())
    return count / len(y_true), float((pred[mask] == y_true[mask]).mean()) if count else 1.0


def global_rule(
    y_true: np.ndarray, pred: np.ndarray, confidence: np.ndarray, *, other: int, target: float
) -> AbstainRule:
    """The lowest threshold (steps of 0.01) whose suggestions reach `target` precision; 1.0 when none does.
    One point of ml.training.metrics' abstain curve, the curve `ml evaluate` reports."""
    curve = abstain_curve(y_true, pred, confidence, other)
    point = next((p for p in curve if p.precision >= target and p.coverage > 0), curve[-1])
    return AbstainRule(point.threshold, {}, point.coverage, point.precision)


def _best_prefix(confidence: np.ndarray, correct: np.ndarray, mu: float, target: float) -> float:
    """The threshold keeping the most confident prefix that maximises sum(1 + mu (correct - target))."""
    order = np.argsort(-confidence, kind="stable")
    gains = np.cumsum(1.0 + mu * (correct[order].astype(float) - target))
    best = int(np.argmax(gains))
    if gains[best] <= 0:
        return 1.0  # keep (practically) none of this tag: it cannot reach the precision
    return float(confidence[order][best])


def per_tag_rule(
    y_true: np.ndarray, pred: np.ndarray, confidence: np.ndarray, *, other: int, target: float,
    min_predictions: int = MIN_TAG_PREDICTIONS,
) -> AbstainRule:
    """Per-tag thresholds with the most coverage at overall precision >= target; tags with fewer than
    `min_predictions` validation predictions use the global rule's threshold."""
    base = global_rule(y_true, pred, confidence, other=other, target=target)
    tags = [t for t in np.unique(pred) if t != other and (pred == t).sum() >= min_predictions]
    best = base
    for mu in np.geomspace(1, 1000, 60):
        per_tag = {}
        for tag in tags:
            rows = pred == tag
            per_tag[int(tag)] = _best_prefix(confidence[rows], y_true[rows] == tag, mu, target)
        coverage, precision = rule_stats(y_true, pred, confidence, other=other, default=base.default,
                                         per_tag=per_tag)
        if precision >= target and coverage > best.coverage:
            best = AbstainRule(base.default, per_tag, coverage, precision)
    return best


def out_of_fold(
    y_true: np.ndarray, pred: np.ndarray, confidence: np.ndarray, *, other: int, target: float, per_tag: bool,
    folds: int = 2, seed: int = 0,
) -> tuple[float, float]:
    """(coverage, precision) of a rule chosen on the other folds and applied to each fold, pooled: how the
    rule does on photos it was not chosen on (per-tag thresholds can fit the noise of a few hundred
    predictions per tag)."""
    fold_of = np.random.default_rng(seed).permutation(len(y_true)) % folds
    suggested = correct = 0
    for fold in range(folds):
        fit, test = fold_of != fold, fold_of == fold
        choose = per_tag_rule if per_tag else global_rule
        rule = choose(y_true[fit], pred[fit], confidence[fit], other=other, target=target)
        mask = suggested_mask(pred[test], confidence[test], other, rule.default, rule.per_tag)
        suggested += int(mask.sum())
        correct += int((pred[test][mask] == y_true[test][mask]).sum())
    return suggested / len(y_true), correct / suggested if suggested else 1.0


def coverage_at_precision(
    y_true: Sequence[int], probabilities: np.ndarray, other: int, target: float
) -> tuple[float, float]:
    """(coverage, threshold) of the lowest global threshold reaching `target` precision on these photos."""
    pred, confidence = probabilities.argmax(axis=1), probabilities.max(axis=1)
    rule = global_rule(np.asarray(y_true), pred, confidence, other=other, target=target)
    return rule.coverage, rule.default
