from __future__ import annotations

import numpy as np
import pytest

from ml.training.metrics import (
    abstain_curve,
    accuracy,
    confusion,
    per_label,
    recommend_threshold,
    summarize,
    weighted_accuracy,
)

# 3 labels; label 2 plays `other`. Truth: five 0s, three 1s, two 2s.
TRUE = [0, 0, 0, 0, 0, 1, 1, 1, 2, 2]
PRED = [0, 0, 0, 1, 2, 1, 0, 1, 2, 0]


def test_accuracy_is_eq12_share_of_hits() -> None:
    assert accuracy(TRUE, PRED) == pytest.approx(6 / 10)


def test_weighted_accuracy_is_eq13_mean_recall_over_present_labels() -> None:
    # recalls: label0 3/5, label1 2/3, label2 1/2
    assert weighted_accuracy(TRUE, PRED, 3) == pytest.approx((3 / 5 + 2 / 3 + 1 / 2) / 3)
    # a label absent from the truth (3) does not count, even if predicted
    assert weighted_accuracy([0, 1], [0, 3], 4) == pytest.approx((1 + 0) / 2)


def test_per_label_precision_recall_support() -> None:
    stats = per_label(TRUE, PRED, 3)
    assert stats[0] == {"precision": pytest.approx(3 / 5), "recall": pytest.approx(3 / 5), "support": 5}
    assert stats[1] == {"precision": pytest.approx(2 / 3), "recall": pytest.approx(2 / 3), "support": 3}
    assert stats[2] == {"precision": pytest.approx(1 / 2), "recall": pytest.approx(1 / 2), "support": 2}
    assert confusion(TRUE, PRED, 3)[0].tolist() == [3, 1, 1]


def test_abstain_curve_counts_other_and_low_confidence_as_abstaining() -> None:
    conf = [0.9, 0.8, 0.3, 0.9, 0.9, 0.6, 0.4, 0.7, 0.9, 0.2]
    curve = {round(p.threshold, 2): p for p in abstain_curve(TRUE, PRED, conf, other=2, steps=10)}
    # t=0: every non-other prediction (8 of 10); hits among them: idx 0,1,2,5,7 = 5
    assert curve[0.0].coverage == pytest.approx(0.8)
    assert curve[0.0].precision == pytest.approx(5 / 8)
    # t=0.7: idx 0,1,3,7 (conf >= 0.7, not other): hits 0,1,7
    assert curve[0.7].coverage == pytest.approx(0.4)
    assert curve[0.7].precision == pytest.approx(3 / 4)
    assert curve[1.0].coverage == 0.0


def test_recommend_threshold_lowest_reaching_target() -> None:
    conf = [0.9, 0.8, 0.3, 0.9, 0.9, 0.6, 0.4, 0.7, 0.9, 0.2]
    curve = abstain_curve(TRUE, PRED, conf, other=2, steps=10)
    # t=0.3: idx 0,1,2,3,5,6,7 -> 5/7 >= 0.7 (t=0.4 drops a hit: 4/6); t=0.2 adds nothing new but 0.2 conf
    # belongs to an `other` prediction, so t=0.0..0.2 give 5/8 < 0.7
    assert recommend_threshold(curve, 0.7) == pytest.approx(0.3)
    assert recommend_threshold(curve, 0.6) == pytest.approx(0.0)
    assert 0 <= recommend_threshold(curve, 1.01) <= 1  # unreachable target still gives a threshold


def test_summarize_uses_argmax_of_probabilities() -> None:
    probabilities = np.eye(3)[PRED] * 0.8 + 0.2 / 3
    report = summarize(TRUE, probabilities, ["a", "b", "other"], 2, 0.9)
    assert report["accuracy"] == pytest.approx(0.6)
    assert set(report["per_tag"]) == {"a", "b", "other"}
    assert len(report["abstain_curve"]) == 101
