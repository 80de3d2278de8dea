from __future__ import annotations

import math

import pytest

from ml.training.significance import (
    BETTER,
    NO_DIFFERENCE,
    WORSE,
    PairedCounts,
    fisher_exact_p,
    format_p,
    judge,
    judge_rates,
    mcnemar_exact_p,
    paired_counts,
)


def test_paired_counts_split_photos_by_who_got_them_right() -> None:
    a = [True, True, False, False, True, False]
    b = [True, False, True, False, False, True]
    assert paired_counts(a, b) == PairedCounts(both_right=1, only_a_right=2, only_b_right=2, both_wrong=1)
    with pytest.raises(ValueError, match="differ in length"):
        paired_counts([True], [True, False])


@pytest.mark.parametrize("n", [0, 1, 5, 40])
def test_equal_discordant_counts_give_p_one(n: int) -> None:
    assert mcnemar_exact_p(n, n) == 1.0


def test_hand_computed_p_values() -> None:
    assert mcnemar_exact_p(0, 10) == 2 * 0.5**10
    assert mcnemar_exact_p(1, 9) == 2 * (1 + 10) / 2**10
    assert mcnemar_exact_p(2, 8) == 2 * (1 + 10 + 45) / 2**10
    assert mcnemar_exact_p(0, 1) == 1.0  # one discordant photo proves nothing (2 * 0.5, capped)


@pytest.mark.parametrize(("b", "c"), [(0, 10), (3, 17), (150, 86), (1, 2)])
def test_p_value_is_symmetric(b: int, c: int) -> None:
    assert mcnemar_exact_p(b, c) == mcnemar_exact_p(c, b)


def test_textbook_example() -> None:
    # Fagerland, Lydersen & Laake (2013), BMC Med Res Methodol 13:91, airway hyper-responsiveness before and
    # after stem cell transplantation: 1 and 7 discordant pairs, exact conditional p = 0.070.
    assert mcnemar_exact_p(1, 7) == 18 / 256
    assert round(mcnemar_exact_p(1, 7), 3) == 0.070


def test_large_counts_agree_with_the_continuity_corrected_chi_square() -> None:
    # Agresti's presidential approval table (794, 150, 86, 570): chi2 with continuity correction
    # (|b - c| - 1)^2 / (b + c) = 16.82, whose p-value the exact test approaches for many discordant pairs.
    b, c = 150, 86
    chi2 = (abs(b - c) - 1) ** 2 / (b + c)
    approximate = math.erfc(math.sqrt(chi2 / 2))
    assert mcnemar_exact_p(b, c) == pytest.approx(approximate, rel=0.1)
    assert mcnemar_exact_p(b, c) < 1e-4


def test_huge_counts_stay_exact_and_finite() -> None:
    assert mcnemar_exact_p(10_000, 10_000) == 1.0
    assert mcnemar_exact_p(0, 5_000) == 0.0  # 2 ** -4999 underflows a float, as it should
    assert 0 < mcnemar_exact_p(4_900, 5_100) < 0.05


def test_verdicts_never_call_a_worse_or_insignificant_candidate_better() -> None:
    better = judge(0, 10)
    assert better.decision == BETTER and better.text == "B is better (p = 0.00195 < 0.05)"
    worse = judge(10, 0)
    assert worse.decision == WORSE and worse.text == "B is worse (p = 0.00195 < 0.05): keep A"
    slight = judge(2, 8)  # B fixes more photos, but not significantly
    assert slight.decision == NO_DIFFERENCE
    assert slight.text == "no significant difference (p = 0.109 >= 0.05): keep A"
    assert judge(0, 0).text == "no significant difference (p = 1 >= 0.05): keep A"
    assert judge(1, 9, alpha=0.01).decision == NO_DIFFERENCE  # p = 0.021
    with pytest.raises(ValueError, match="alpha"):
        judge(1, 2, alpha=1.5)


def test_shown_p_value_never_contradicts_the_comparison_with_alpha() -> None:
    assert format_p(0.04996, 0.05) == "0.04996"
    assert format_p(0.41, 0.05) == "0.41"
    assert format_p(0.0500001, 0.05) == "0.05"


def test_fisher_exact_matches_known_tables() -> None:
    # Margins 4 / 4 with 4 yes: the tables with x = 0..4 yes in A have weights C(4, x) C(4, 4 - x) =
    # 1, 16, 36, 16, 1 out of C(8, 4) = 70. Fisher's tea tasting (3 of 4 right): 1 + 16 + 16 + 1 = 34 / 70.
    assert fisher_exact_p(3, 1, 1, 3) == 34 / 70
    assert fisher_exact_p(4, 0, 0, 4) == 2 / 70
    assert fisher_exact_p(2, 2, 2, 2) == 1.0
    assert fisher_exact_p(5, 5, 5, 5) == 1.0
    assert fisher_exact_p(0, 0, 0, 0) == 1.0


def test_judge_rates_says_higher_lower_or_no_difference() -> None:
    assert judge_rates(10, 2, 3, 15).decision == WORSE
    assert judge_rates(3, 15, 10, 2).decision == BETTER
    assert judge_rates(3, 1, 1, 3).decision == NO_DIFFERENCE
    assert judge_rates(0, 0, 40, 0).decision == NO_DIFFERENCE  # nothing rated for A: no evidence
    with pytest.raises(ValueError):
        fisher_exact_p(-1, 0, 0, 0)
