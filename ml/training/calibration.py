"""Calibration and the abstain rule of a model file, chosen on validation photos (`ml calibrate`).

- Temperature: the class probabilities p become softmax(log p / T) before they are summed into tags (for an
  ensemble, p is already the members' average, so this is temperature scaling of the averaged
  log-probabilities). T is fitted to minimise the negative log-likelihood of the true tag.
- Thresholds: suggest the argmax tag t when it is not `other` and its probability is at least t's threshold.
  One global threshold is the lowest reaching the target precision; per-tag thresholds maximise coverage at
  the same overall precision (a Lagrangian sweep: for a price mu per wrong suggestion, each tag independently
  keeps its most confident predictions while they pay for themselves), for tags with enough validation
  predictions to estimate their curve.
- Lists: when no single tag is sure, the smallest ranked list reaching a probability mass (see
  ml.serving.inference.ranked_suggestions). The mass is chosen by Learn then Test (Angelopoulos et al., 2021):
  for each mass of a fixed grid, a binomial test of "the right tag is missing from more than 1 - target of
  the lists" at level delta / (grid size) (Bonferroni: the most cautious masses offer few lists and cannot be
  certified, which would end a fixed-sequence search at once); of the certified masses, the one answering the
  most photos with at most max_mean_size tags per answer. Given the photos a fixed rule answers with a list,
  its misses are binomial, so with probability 1 - delta over the validation draw every certified mass keeps
  its lists' promise on new photos of this kind. Single tags keep the threshold's precision (chosen on the
  same photos; the held-out report measures both).
Functions of arrays only: what `ml calibrate` measures is testable on small ones.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ml.serving.inference import ranked_suggestions, tag_probabilities, temper
from ml.tags import ALL_LABELS
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


# Masses tried for the list rule: a coarse grid, since Bonferroni divides delta among them.
LIST_MASSES = tuple(round(0.95 - 0.05 * i, 2) for i in range(10))  # 0.95 .. 0.50


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space (n in the thousands)."""
    if k >= n:
        return 1.0
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0
    log_terms = [
        math.lgamma(n + 1)
        - math.lgamma(i + 1)
        - math.lgamma(n - i + 1)
        + i * math.log(p)
        + (n - i) * math.log1p(-p)
        for i in range(k + 1)
    ]
    top = max(log_terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in log_terms))


@dataclass(frozen=True)
class ListOutcome:
    """What a list rule does on a set of photos."""

    answered: float  # share of photos with at least one suggestion
    hit_rate: float  # among those, the share whose suggestions hold the right tag (1 when none answered)
    single_precision: float  # among single-tag answers, the share that is right (1 when there are none)
    list_share: float  # share of photos answered with a list (2+ tags)
    list_hit_rate: float  # among those, the share whose list holds the right tag (1 when there are none)
    mean_size: float  # tags per answered photo
    answers: int
    misses: int  # answers without the right tag
    lists: int
    list_misses: int


def list_outcome(
    tag_p: np.ndarray,
    y_true: np.ndarray,
    *,
    threshold: float,
    tag_thresholds: Mapping[str, float],
    list_mass: float,
    list_max_tags: int,
) -> ListOutcome:
    sizes, hits = [], []
    for row, truth in zip(tag_p, y_true, strict=True):
        offered = ranked_suggestions(
            row, threshold, tag_thresholds, list_mass=list_mass, list_max_tags=list_max_tags
        )
        sizes.append(len(offered))
        hits.append(ALL_LABELS[truth] in {tag for tag, _ in offered})
    size, hit = np.array(sizes), np.array(hits)
    answered, single, listed = size > 0, size == 1, size > 1

    def share(mask: np.ndarray) -> float:
        return float(hit[mask].mean()) if mask.any() else 1.0

    return ListOutcome(
        answered=float(answered.mean()),
        hit_rate=share(answered),
        single_precision=share(single),
        list_share=float(listed.mean()),
        list_hit_rate=share(listed),
        mean_size=float(size[answered].mean()) if answered.any() else 0.0,
        answers=int(answered.sum()),
        misses=int((answered & ~hit).sum()),
        lists=int(listed.sum()),
        list_misses=int((listed & ~hit).sum()),
    )


@dataclass(frozen=True)
class ListRule:
    list_mass: float  # 0.0: no mass passed the test, so no lists
    outcome: ListOutcome  # on the photos it was chosen on
    p_value: float  # of the chosen mass's test (1.0 with no lists)
    level: float  # each mass's test level, delta / len(masses)
    tested: list[dict[str, float]]  # every mass tested, with its outcome and p-value


def choose_list_rule(
    tag_p: np.ndarray,
    y_true: np.ndarray,
    *,
    threshold: float,
    tag_thresholds: Mapping[str, float],
    target: float = 0.90,
    delta: float = 0.10,
    list_max_tags: int = 3,
    max_mean_size: float = 1.5,
    masses: Sequence[float] = LIST_MASSES,
) -> ListRule:
    """Of `masses`, the one answering the most photos among those whose lists are certified (binomial test,
    Bonferroni level delta / len(masses)) to hold the right tag at least `target` of the time and whose
    answers average at most `max_mean_size` tags; list_mass 0 (no lists) when none qualifies."""
    level = delta / len(masses)
    chosen = ListRule(
        0.0,
        list_outcome(
            tag_p,
            y_true,
            threshold=threshold,
            tag_thresholds=tag_thresholds,
            list_mass=0.0,
            list_max_tags=list_max_tags,
        ),
        1.0,
        level,
        [],
    )
    tested = []
    for mass in masses:
        outcome = list_outcome(
            tag_p,
            y_true,
            threshold=threshold,
            tag_thresholds=tag_thresholds,
            list_mass=mass,
            list_max_tags=list_max_tags,
        )
        # H0: the lists miss more than 1 - target; p-value: P(this few misses or fewer | that miss rate).
        p_value = binomial_cdf(outcome.list_misses, outcome.lists, 1 - target) if outcome.lists else 1.0
        tested.append({"list_mass": mass, "p_value": p_value, **outcome.__dict__})
        if (
            p_value <= level
            and outcome.mean_size <= max_mean_size
            and outcome.answered > chosen.outcome.answered
        ):
            chosen = ListRule(mass, outcome, p_value, level, [])
    return ListRule(chosen.list_mass, chosen.outcome, chosen.p_value, level, tested)
