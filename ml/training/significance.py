"""Is a candidate model better than the incumbent on the same photos? McNemar's exact test on the paired
correctness of their top tags, and the verdict `ml compare` prints.

Only the discordant photos carry evidence: b = A right & B wrong, c = A wrong & B right. Under "no
difference" each of the b + c is equally likely to fall either way, so min(b, c) follows Binomial(b + c, 1/2);
the two-sided exact p-value doubles its lower tail (capped at 1). Integer arithmetic throughout: exact for any
number of photos, no scipy needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
