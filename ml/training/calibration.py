"""Calibration and the abstain rule of a model file, chosen on validation photos (`ml calibrate`).

- Temperature: the class probabilities p become softmax(log p / T) before they are summed into tags (for an
  ensemble, p is already the members' average, so this is temperature scaling of the averaged
  log-probabilities). T is fitted to minimise the negative log-likelihood of the true tag.
- Thresholds: suggest the argmax tag t when it is not `other` and its probability is at least t's threshold.
  One global threshold is the lowest reaching the target precision; per-tag thresholds maximise coverage at
  the same overall precision (a Lagrangian sweep: for a price mu per wrong suggestion, each tag independently
  keeps its most confident predictions while they pay for themselves), for tags with enough validation
  predictions to estimate their curve.
- The answer rule: one tag when it is sure enough, else the smallest ranked list reaching a probability mass
  (ml.serving.inference.ranked_suggestions). Its threshold and mass are chosen together by Learn then Test
  (see choose_answer_rule) so that answers hold the right tag, and single tags are right, at least `target`
  of the time, certified at level delta: given the photos a fixed rule answers, its misses are binomial.
Functions of arrays only: what `ml calibrate` measures is testable on small ones.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ml.serving.inference import offered_sizes, tag_probabilities, temper
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


# The answer rule's grid: global thresholds for one sure tag, and list masses (0: no lists).
ANSWER_THRESHOLDS = tuple(round(0.5 + 0.01 * i, 2) for i in range(50))  # 0.50 .. 0.99
LIST_MASSES = (0.0, *(round(0.95 - 0.05 * i, 2) for i in range(10)))  # none, 0.95 .. 0.50


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space (n in the thousands)."""
    if k >= n or p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0
    log_terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
                 + i * math.log(p) + (n - i) * math.log1p(-p) for i in range(k + 1)]
    top = max(log_terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in log_terms))


@dataclass(frozen=True)
class ListOutcome:
    """What an answer rule (single sure tags, else ranked lists) does on a set of photos."""

    answered: float  # share of photos with at least one suggestion
    hit_rate: float  # among those, the share whose suggestions hold the right tag (1 when none answered)
    single_precision: float  # among single-tag answers, the share that is right (1 when there are none)
    list_share: float  # share of photos answered with a list (2+ tags)
    list_hit_rate: float  # among those, the share whose list holds the right tag (1 when there are none)
    mean_size: float  # tags per answered photo
    answers: int
    misses: int  # answers without the right tag
    singles: int
    single_misses: int


def list_outcome(
    tag_p: np.ndarray, y_true: np.ndarray, *, threshold: float, tag_thresholds: Mapping[str, float],
    list_mass: float, list_max_tags: int,
) -> ListOutcome:
    sizes, ranked = offered_sizes(tag_p, threshold=threshold, tag_thresholds=tag_thresholds,
                                  list_mass=list_mass, list_max_tags=list_max_tags)
    hit = ((ranked == y_true[:, None]) & (np.arange(ranked.shape[1]) < sizes[:, None])).any(axis=1)
    answered, single, listed = sizes > 0, sizes == 1, sizes > 1

    def share(mask: np.ndarray) -> float:
        return float(hit[mask].mean()) if mask.any() else 1.0

    return ListOutcome(
        answered=float(answered.mean()), hit_rate=share(answered), single_precision=share(single),
        list_share=float(listed.mean()), list_hit_rate=share(listed),
        mean_size=float(sizes[answered].mean()) if answered.any() else 0.0,
        answers=int(answered.sum()), misses=int((answered & ~hit).sum()), singles=int(single.sum()),
        single_misses=int((single & ~hit).sum()),
    )


@dataclass(frozen=True)
class AnswerRule:
    threshold: float  # one tag is offered when it is not `other` and reaches this (or its own threshold)
    list_mass: float  # else the smallest ranked list reaching this mass; 0.0: no lists
    outcome: ListOutcome  # on all the photos it was chosen with
    p_value: float  # on the test half (the larger of its two tests); 1.0 when nothing was certified
    tested: list[dict[str, Any]]  # the test half's candidates in testing order, with outcome and p-value


def p_value_of(outcome: ListOutcome, target: float) -> float:
    """p-value of "answers miss more than 1 - target, or single tags do" (the larger of the two tests)."""
    answers = binomial_cdf(outcome.misses, outcome.answers, 1 - target) if outcome.answers else 1.0
    singles = binomial_cdf(outcome.single_misses, outcome.singles, 1 - target) if outcome.singles else 0.0
    return max(answers, singles)


def choose_answer_rule(
    tag_p: np.ndarray, y_true: np.ndarray, *, tag_thresholds: Mapping[str, float], fallback: float,
    target: float = 0.90, delta: float = 0.10, list_max_tags: int = 3, max_mean_size: float = 1.5,
    thresholds: Sequence[float] = ANSWER_THRESHOLDS, masses: Sequence[float] = LIST_MASSES, seed: int = 0,
) -> AnswerRule:
    """The (threshold, list mass) answering the most photos whose answers hold the right tag at least
    `target` of the time and whose single tags are right at least `target` of the time, both certified at
    level `delta` (Learn then Test, Angelopoulos et al. 2021, with a data split): one half of the photos
    orders the grid, the most certifiable candidate first (by its p-value there); on the other half each is
    tested in that order (two binomial tests of "miss rate > 1 - target"), the first failure ending the
    search (fixed-sequence testing needs no multiplicity correction). Of the certified candidates (each with
    at most `max_mean_size` tags per answer), the one answering the most photos. None certified: the
    `fallback` threshold, no lists, p-value 1."""
    halves = np.random.default_rng(seed).permutation(len(y_true)) % 2
    learn, test = halves == 0, halves == 1

    def outcome(rows: np.ndarray, threshold: float, mass: float) -> ListOutcome:
        return list_outcome(tag_p[rows], y_true[rows], threshold=threshold, tag_thresholds=tag_thresholds,
                            list_mass=mass, list_max_tags=list_max_tags)

    learned = {(t, m): outcome(learn, t, m) for t in thresholds for m in masses}
    order = sorted((c for c, o in learned.items() if o.answers and o.mean_size <= max_mean_size),
                   key=lambda c: (p_value_of(learned[c], target), -learned[c].answered))
    tested: list[dict[str, Any]] = []
    certified = []
    for threshold, mass in order:
        o = outcome(test, threshold, mass)
        p_value = p_value_of(o, target)
        tested.append({"threshold": threshold, "list_mass": mass, "p_value": p_value, **o.__dict__})
        if p_value > delta:
            break
        certified.append((threshold, mass, p_value))
    everything = np.ones(len(y_true), dtype=bool)
    if not certified:
        return AnswerRule(fallback, 0.0, outcome(everything, fallback, 0.0), 1.0, tested)
    scored = [(outcome(everything, t, m), t, m, p) for t, m, p in certified]
    best = max(scored, key=lambda s: (s[0].answered, -s[2], s[1]))  # ties: no lists, the higher threshold
    return AnswerRule(best[1], best[2], best[0], best[3], tested)
