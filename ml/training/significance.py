"""Is a candidate model better than the incumbent? On the same photos (`ml compare`): McNemar's exact test on
the paired correctness of their top tags. On different photos, as in a canary (`ml canary report`): Fisher's
exact test of two rates, such as the share of 👍 among rated suggestions.

Only the discordant photos carry evidence: b = A right & B wrong, c = A wrong & B right. Under "no
difference" each of the b + c is equally likely to fall either way, so min(b, c) follows Binomial(b + c, 1/2);
the two-sided exact p-value doubles its lower tail (capped at 1). Integer arithmetic throughout: exact for any
number of photos, no scipy needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import comb

import numpy as np

BETTER, NO_DIFFERENCE, WORSE = "better", "no significant difference", "worse"


@dataclass(frozen=True)
class PairedCounts:
    both_right: int
    only_a_right: int  # b: the photos the candidate would start getting wrong
    only_b_right: int  # c: the photos the candidate would fix
    both_wrong: int


@dataclass(frozen=True)
class Verdict:
    decision: str  # BETTER, NO_DIFFERENCE or WORSE: the candidate B against the incumbent A
    p_value: float
    text: str  # one line for the operator, e.g. "B is better (p = 0.003 < 0.05)"


def paired_counts(a_correct: Sequence[bool], b_correct: Sequence[bool]) -> PairedCounts:
    a, b = np.asarray(a_correct, dtype=bool), np.asarray(b_correct, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"paired results differ in length: {a.shape} against {b.shape}")
    return PairedCounts(int((a & b).sum()), int((a & ~b).sum()), int((~a & b).sum()), int((~a & ~b).sum()))


def mcnemar_exact_p(only_a_right: int, only_b_right: int) -> float:
    """Two-sided exact p-value of McNemar's test: 2 P(X <= min(b, c)), X ~ Binomial(b + c, 1/2), at most 1."""
    if only_a_right < 0 or only_b_right < 0:
        raise ValueError("counts of photos cannot be negative")
    n, k = only_a_right + only_b_right, min(only_a_right, only_b_right)
    term = tail = 1  # C(n, 0)
    for i in range(k):
        term = term * (n - i) // (i + 1)  # C(n, i + 1), exact
        tail += term
    return min(1.0, 2 * tail / 2**n)  # int / int is correctly rounded however large n is


def format_p(p_value: float, alpha: float) -> str:
    """p with 3 significant digits, more where rounding would put it on the wrong side of alpha."""
    for digits in range(3, 10):
        text = f"{p_value:.{digits}g}"
        if (float(text) < alpha) == (p_value < alpha):
            return text
    return repr(p_value)


def judge(only_a_right: int, only_b_right: int, alpha: float = 0.05) -> Verdict:
    """The candidate B is called better only when it fixes more photos than it breaks and the difference is
    significant at `alpha`; a tie or an insignificant gain keeps A."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    p = mcnemar_exact_p(only_a_right, only_b_right)
    shown = format_p(p, alpha)
    if p >= alpha:
        return Verdict(NO_DIFFERENCE, p, f"no significant difference (p = {shown} >= {alpha:g}): keep A")
    if only_b_right > only_a_right:
        return Verdict(BETTER, p, f"B is better (p = {shown} < {alpha:g})")
    return Verdict(WORSE, p, f"B is worse (p = {shown} < {alpha:g}): keep A")


def fisher_exact_p(a_yes: int, a_no: int, b_yes: int, b_no: int) -> float:
    """Two-sided Fisher's exact test of whether A's and B's yes-rates differ: the probability, with the
    table's margins fixed, of every table no more likely than the observed one. Exact integers, as above."""
    if min(a_yes, a_no, b_yes, b_no) < 0:
        raise ValueError("counts cannot be negative")
    n_a, n_b, yes = a_yes + a_no, b_yes + b_no, a_yes + b_yes
    low, high = max(0, yes - n_b), min(yes, n_a)
    weights = [comb(n_a, x) * comb(n_b, yes - x) for x in range(low, high + 1)]
    observed = weights[a_yes - low]
    return min(1.0, sum(w for w in weights if w <= observed) / comb(n_a + n_b, yes))


def judge_rates(a_yes: int, a_no: int, b_yes: int, b_no: int, alpha: float = 0.05) -> Verdict:
    """B's yes-rate against A's: BETTER or WORSE only when Fisher's test finds the difference significant."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    p = fisher_exact_p(a_yes, a_no, b_yes, b_no)
    shown = format_p(p, alpha)
    if p >= alpha:
        return Verdict(NO_DIFFERENCE, p, f"no significant difference (p = {shown} >= {alpha:g})")
    # Cross-multiplied: B's rate b_yes / (b_yes + b_no) above A's, without division by an empty count.
    if b_yes * (a_yes + a_no) > a_yes * (b_yes + b_no):
        return Verdict(BETTER, p, f"B is higher (p = {shown} < {alpha:g})")
    return Verdict(WORSE, p, f"B is lower (p = {shown} < {alpha:g})")
