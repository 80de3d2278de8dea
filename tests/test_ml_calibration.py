from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.serving.inference import decide, tag_probabilities, temper
from ml.tags import ALL_LABELS, OTHER
from ml.training import calibration as cal


def test_temper_sharpens_and_softens_and_keeps_rows_normalised() -> None:
    p = torch.tensor([[0.6, 0.3, 0.1]])
    assert torch.equal(temper(p, 1.0), p)
    sharp, soft = temper(p, 0.5), temper(p, 2.0)
    assert sharp[0, 0] > 0.6 > soft[0, 0]
    assert torch.allclose(sharp.sum(dim=1), torch.ones(1)) and torch.allclose(soft.sum(dim=1), torch.ones(1))
    # T = 0.5 squares the probabilities before renormalising.
    assert torch.allclose(sharp, p**2 / (p**2).sum())


def test_fit_temperature_recovers_the_temperature_that_made_the_data() -> None:
    # Two classes mapped to two tags; the true labels are drawn from p ** 2 (i.e. T = 0.5 is calibrated).
    rng = np.random.default_rng(0)
    first = rng.uniform(0.5, 0.95, 4000)
    p = torch.tensor(np.stack([first, 1 - first], axis=1), dtype=torch.float32)
    calibrated = temper(p, 0.5).numpy()
    truth = (rng.uniform(size=len(first)) > calibrated[:, 0]).astype(int)
    matrix = torch.eye(2)
    assert cal.fit_temperature(p, matrix, 0.0, truth) == pytest.approx(0.5, abs=0.1)


def test_expected_calibration_error_of_a_calibrated_and_an_overconfident_model() -> None:
    # Every photo at confidence 0.8: 80 % right is calibrated, 50 % right is off by 0.3.
    probabilities = np.tile([0.8, 0.2], (10, 1))
    right_8 = np.array([0] * 8 + [1] * 2)
    right_5 = np.array([0] * 5 + [1] * 5)
    assert cal.expected_calibration_error(probabilities, right_8) == pytest.approx(0.0)
    assert cal.expected_calibration_error(probabilities, right_5) == pytest.approx(0.3)


def test_global_rule_is_the_lowest_threshold_reaching_the_precision() -> None:
    other = 9
    confidence = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5])
    pred = np.array([1, 1, 1, 1, 1, 1])
    truth = np.array([1, 1, 1, 2, 1, 2])  # prefixes: 1, 1, 1, .75, .8, .67
    rule = cal.global_rule(truth, pred, confidence, other=other, target=0.8)
    assert rule.default == pytest.approx(0.51) and rule.coverage == pytest.approx(5 / 6)  # 0.51 keeps 0.6
    assert rule.precision == pytest.approx(0.8)
    strict = cal.global_rule(truth, pred, confidence, other=other, target=0.9)
    assert strict.default == pytest.approx(0.71) and strict.coverage == pytest.approx(0.5)


def test_per_tag_rule_covers_more_when_tags_differ_in_reliability() -> None:
    # Tag 1 is always right, tag 2 is right only above 0.8: one global threshold must stop tag 1 at 0.8 too.
    other = 0
    conf1 = np.linspace(0.3, 0.99, 60)
    conf2 = np.linspace(0.3, 0.99, 60)
    pred = np.array([1] * 60 + [2] * 60)
    confidence = np.concatenate([conf1, conf2])
    truth = np.concatenate([np.ones(60, int), np.where(conf2 > 0.8, 2, 3)])
    one = cal.global_rule(truth, pred, confidence, other=other, target=0.95)
    per_tag = cal.per_tag_rule(truth, pred, confidence, other=other, target=0.95, min_predictions=10)
    assert per_tag.precision >= 0.95 and per_tag.coverage > one.coverage + 0.2
    assert per_tag.per_tag[1] < 0.35 and per_tag.per_tag[2] > 0.79
    # Too few predictions per tag: the global threshold only.
    sparse = cal.per_tag_rule(truth, pred, confidence, other=other, target=0.95, min_predictions=100)
    assert sparse.per_tag == {}


def test_decide_uses_the_tags_own_threshold_before_the_global_one() -> None:
    row = [0.0] * len(ALL_LABELS)
    row[ALL_LABELS.index("sport")] = 0.55
    row[ALL_LABELS.index(OTHER)] = 0.45
    assert decide(row, 0.6) == ("sport", 0.55, None)
    assert decide(row, 0.6, {"sport": 0.5}) == ("sport", 0.55, "sport")
    assert decide(row, 0.5, {"cafe": 0.9}) == ("sport", 0.55, "sport")
    assert decide(row, 0.5, {"sport": 0.6})[2] is None


def test_suggested_mask_and_coverage_at_precision() -> None:
    other = ALL_LABELS.index(OTHER)
    sport = ALL_LABELS.index("sport")
    probabilities = np.zeros((4, len(ALL_LABELS)))
    probabilities[0, sport] = probabilities[1, sport] = 0.9
    probabilities[2, sport] = 0.5
    probabilities[3, other] = 0.9
    probabilities[:, other] += 1 - probabilities.sum(axis=1)
    truth = np.array([sport, sport, other, other])
    coverage, threshold = cal.coverage_at_precision(truth, probabilities, other, 0.9)
    assert (coverage, threshold) == (0.5, pytest.approx(0.51))
    pred, confidence = probabilities.argmax(axis=1), probabilities.max(axis=1)
    mask = cal.suggested_mask(pred, confidence, other, 0.95, {sport: 0.4})
    assert mask.tolist() == [True, True, True, False]


def test_tag_probabilities_after_temper_still_sum_to_one() -> None:
    class_p = torch.softmax(torch.randn(5, 3), dim=1)
    matrix = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    tags = tag_probabilities(temper(class_p, 0.7), matrix, 0.5)
    assert torch.allclose(tags.sum(dim=1), torch.ones(5))


def test_out_of_fold_keeps_a_real_per_tag_gain_and_exposes_fitted_noise() -> None:
    rng = np.random.default_rng(0)
    # Real difference: tag 1 always right, tag 2 right only above 0.8 (as above, 400 photos each).
    conf = rng.uniform(0.3, 1.0, 800)
    pred = np.array([1] * 400 + [2] * 400)
    truth = np.where((pred == 1) | (conf > 0.8), pred, 3)
    folded_global = cal.out_of_fold(truth, pred, conf, other=0, target=0.95, per_tag=False)
    folded_tags = cal.out_of_fold(truth, pred, conf, other=0, target=0.95, per_tag=True)
    assert folded_tags[0] > folded_global[0] + 0.2 and folded_tags[1] >= 0.93
    # Pure noise: every tag right 90 % of the time whatever the confidence; thresholds fitted per tag on
    # one half claim the target there but cannot beat the base rate on the other half.
    pred = rng.integers(1, 9, 4000)
    conf = rng.uniform(0.3, 1.0, 4000)
    truth = np.where(rng.uniform(size=4000) < 0.9, pred, 0)
    in_fold = cal.per_tag_rule(truth, pred, conf, other=0, target=0.92)
    _, precision = cal.out_of_fold(truth, pred, conf, other=0, target=0.92, per_tag=True)
    assert in_fold.precision >= 0.92 and precision < in_fold.precision


def test_binomial_cdf_matches_exact_small_cases_and_stays_finite_for_thousands() -> None:
    assert cal.binomial_cdf(0, 3, 0.5) == pytest.approx(1 / 8)
    assert cal.binomial_cdf(1, 3, 0.5) == pytest.approx(4 / 8)
    assert cal.binomial_cdf(3, 3, 0.5) == 1.0
    # 250 misses in 3,000 answers (8.3 %) against a 10 % miss rate: very unlikely under H0, so certified.
    assert cal.binomial_cdf(250, 3000, 0.10) < 0.01
    assert cal.binomial_cdf(300, 3000, 0.10) == pytest.approx(0.5, abs=0.03)


def _rows(*pairs: tuple[dict[str, float], str]) -> tuple[np.ndarray, np.ndarray]:
    """Tag probability rows (the rest of the mass on `other`) and their true tags."""
    rows = []
    for probabilities, _ in pairs:
        row = np.zeros(len(ALL_LABELS))
        for tag, p in probabilities.items():
            row[ALL_LABELS.index(tag)] = p
        row[ALL_LABELS.index(OTHER)] = 1 - row.sum()
        rows.append(row)
    return np.array(rows), np.array([ALL_LABELS.index(truth) for _, truth in pairs])


def test_list_outcome_counts_singles_lists_and_abstentions() -> None:
    tag_p, truth = _rows(({"cafe": 0.95}, "cafe"),  # sure: a single, right
                         ({"cafe": 0.5, "shopping": 0.45}, "shopping"),  # a list of two that holds it
                         ({"cafe": 0.5, "shopping": 0.45}, "nature"),  # a list that misses
                         ({"cafe": 0.4}, "cafe"))  # other has 0.6: abstain
    outcome = cal.list_outcome(tag_p, truth, threshold=0.9, tag_thresholds={}, list_mass=0.9, list_max_tags=3)
    assert outcome.answers == 3 and outcome.misses == 1 and (outcome.singles, outcome.single_misses) == (1, 0)
    assert outcome.answered == pytest.approx(3 / 4) and outcome.hit_rate == pytest.approx(2 / 3)
    assert outcome.mean_size == pytest.approx(5 / 3) and outcome.list_share == pytest.approx(2 / 4)
    assert outcome.list_hit_rate == pytest.approx(1 / 2) and outcome.single_precision == 1.0
    singles = cal.list_outcome(tag_p, truth, threshold=0.9, tag_thresholds={}, list_mass=0.0, list_max_tags=3)
    assert singles.answers == 1 and singles.list_share == 0


def test_offered_sizes_on_a_batch_is_the_rule_photo_by_photo() -> None:
    from ml.serving.inference import offered_sizes, ranked_suggestions

    rng = np.random.default_rng(1)
    tag_p = rng.dirichlet(np.full(len(ALL_LABELS), 0.15), size=400)
    per_tag = {"cafe": 0.6, "nature": 0.95}
    for threshold, mass, depth in ((0.8, 0.0, 3), (0.7, 0.85, 3), (0.9, 0.6, 2), (0.5, 0.99, 3)):
        sizes, ranked = offered_sizes(tag_p, threshold=threshold, tag_thresholds=per_tag, list_mass=mass,
                                          list_max_tags=depth)
        for row, size, order in zip(tag_p, sizes, ranked, strict=True):
            served = ranked_suggestions(row, threshold, per_tag, list_mass=mass, list_max_tags=depth)
            assert [tag for tag, _ in served] == [ALL_LABELS[i] for i in order[:size]]


def _two_plausible_tags(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A third of the photos sure and right; the rest split between two tags, the first right 70 %."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(n):
        if rng.uniform() < 1 / 3:
            pairs.append(({"cafe": 0.97}, "cafe"))
            continue
        first, second = rng.uniform(0.45, 0.6), rng.uniform(0.3, 0.45)
        truth = rng.choice(["cafe", "shopping", "nature"], p=[0.7, 0.25, 0.05])
        pairs.append(({"cafe": first, "shopping": min(second, 0.999 - first)}, str(truth)))
    return _rows(*pairs)


def test_choose_answer_rule_certifies_lists_that_answer_more_photos() -> None:
    tag_p, truth = _two_plausible_tags(3000)
    rule = cal.choose_answer_rule(tag_p, truth, tag_thresholds={}, fallback=0.9, target=0.9, delta=0.1,
                                  max_mean_size=2.0)
    # Single tags alone answer the sure third; lists of the two plausible tags (right 95 %) the rest.
    assert rule.list_mass > 0 and rule.p_value <= 0.1
    assert rule.outcome.answered > 0.9 and rule.outcome.hit_rate >= 0.9
    assert all(t["p_value"] <= 0.1 for t in rule.tested[:-1])  # fixed sequence: stops at the first failure
    # The bound on tags per answer keeps lists from most photos: fewer answers.
    bounded = cal.choose_answer_rule(tag_p, truth, tag_thresholds={}, fallback=0.9, target=0.9, delta=0.1)
    assert bounded.outcome.mean_size <= 1.5 and bounded.outcome.answered < rule.outcome.answered
    # A target nothing here meets: the fallback threshold, no lists.
    strict = cal.choose_answer_rule(tag_p, truth, tag_thresholds={}, fallback=0.9, target=0.999, delta=0.1)
    assert (strict.threshold, strict.list_mass, strict.p_value) == (0.9, 0.0, 1.0)
