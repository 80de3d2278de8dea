"""`ml split` -> `ml train --split --init` -> `ml calibrate` -> `ml evaluate --save-probabilities` on a few
real photos and a tiny model: the operator's path to a calibrated model file, and what the worker reads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.cli import main as ml_main
from ml.serving.inference import Classifier
from ml.serving.model import read_model_file
from ml.tags import ALL_LABELS
from tests.ml_support import TINY_SIZE, make_tiny_data, make_tiny_model

COMMON = ["--threads", "1", "--tta-per-class", "1"]
Run = tuple[Path, Path, Path]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(data, split file, a model trained on its train part from an --init ensemble member)."""
    folder = tmp_path_factory.mktemp("calibrate")
    data = make_tiny_data(folder / "data", per_class=6)
    split = folder / "split.json"
    assert ml_main(["split", "--data", str(data), "--output", str(split), "--holdout", "0.34",
                    "--val-per-class", "1"]) == 0
    torch.manual_seed(0)
    a, b = make_tiny_model(folder / "a.pt"), make_tiny_model(folder / "b.pt", "efficientnet-lite1")
    assert ml_main(["ensemble", str(a), str(b), "--output", str(folder / "ens.pt"), "--mixed-data"]) == 0
    out = folder / "run"
    assert ml_main(["train", "--data", str(data), "--split", str(split), "--output", str(out),
                    "--init", str(folder / "ens.pt"), "--backbone", "efficientnet-lite1",
                    "--input-size", str(TINY_SIZE), "--freeze-blocks", "14", "--epochs", "1",
                    "--batch-size", "4", "--workers", "0", "--threads", "1"]) == 0
    return data, split, out / "model.pt"


def test_split_parts_and_training_validates_on_the_split_validation_part(tiny_run: Run) -> None:
    _, split, model = tiny_run
    parts = json.loads(split.read_text())
    assert [len(parts[p]) for p in ("train", "validation", "heldout")] == [9, 3, 6]
    spec, _ = read_model_file(model)
    assert spec.backbone == "efficientnet-lite1" and spec.metrics["validation"]["photos"] == 3
    assert spec.metrics["train_photos"] == 9
    assert (model.parent / "split.json").read_text() == split.read_text()


def test_init_takes_the_member_of_the_backbone_and_refuses_ambiguity(tmp_path: Path) -> None:
    from ml.training.loop import initial_weights

    torch.manual_seed(1)
    a, b = make_tiny_model(tmp_path / "a.pt"), make_tiny_model(tmp_path / "b.pt", "efficientnet-lite1")
    ml_main(["ensemble", str(a), str(b), "--output", str(tmp_path / "e.pt"), "--mixed-data"])
    classes = read_model_file(a)[0].classes
    state, name = initial_weights(str(tmp_path / "e.pt"), "efficientnet-lite1", classes)
    expected = read_model_file(b)[1]
    assert name.endswith(":efficientnet-lite1") and state.keys() == expected.keys()
    assert all(torch.equal(state[k], expected[k].float()) for k in expected)
    ml_main(["ensemble", str(a), str(a), "--output", str(tmp_path / "aa.pt")])
    with pytest.raises(SystemExit, match="2 members are efficientnet-lite0"):
        initial_weights(str(tmp_path / "aa.pt"), "efficientnet-lite0", classes)
    with pytest.raises(SystemExit, match="classes differ"):
        initial_weights(str(a), "efficientnet-lite0", classes[:2])


def test_calibrate_writes_its_choices_into_the_model_file(tiny_run: Run, tmp_path: Path) -> None:
    data, split, model = tiny_run
    out = tmp_path / "calibrated.pt"
    assert ml_main(["calibrate", "--model", str(model), "--data", str(data), "--split", str(split),
                    "--output", str(out), "--tta-check", "2", "--tta-min-gain", "-1", *COMMON]) == 0
    spec, _ = read_model_file(out)
    report = spec.metrics["calibration"]
    assert report["photos"] == 3 and report["part"] == "validation"
    chosen = max(report["tag_balance_sweep"], key=lambda r: (r["accuracy"] + r["weighted_accuracy"],
                                                             -r["tag_balance"]))
    assert (spec.tag_balance, spec.temperature) == (chosen["tag_balance"], chosen["temperature"])
    assert report["tta"]["photos"] == 3 and spec.recommended_tta == 2  # any gain >= -1 recommends TTA 2
    assert 0 <= spec.threshold <= 1 and set(spec.tag_thresholds) <= set(ALL_LABELS)
    answers = report["answer_rule"]  # 3 photos certify nothing: the abstain threshold, no lists
    assert answers["p_value"] == 1.0 and spec.list_mass == answers["list_mass"] == 0.0
    assert spec.threshold == answers["threshold"] == report["global_rule"]["threshold"]
    classifier = Classifier.load(out, "cpu")
    assert classifier.spec.temperature == spec.temperature
    with pytest.raises(SystemExit) as refused:  # the held-out photos are never calibrated on
        ml_main(["calibrate", "--model", str(model), "--data", str(data), "--split", str(split),
                 "--output", str(out), "--part", "heldout"])
    assert refused.value.code == 2


def test_evaluate_saves_probabilities_and_reports_coverage(tiny_run: Run, tmp_path: Path) -> None:
    data, split, model = tiny_run
    saved = tmp_path / "p.npz"
    assert ml_main(["evaluate", "--model", str(model), "--data", str(data), "--split", str(split),
                    "--part", "validation", "--output", str(tmp_path / "eval"),
                    "--save-probabilities", str(saved), "--threads", "1"]) == 0
    arrays = np.load(saved)
    assert list(arrays["labels"]) == list(ALL_LABELS)
    assert arrays["probabilities"].shape == (3, len(ALL_LABELS)) and len(arrays["true_tags"]) == 3
    assert np.allclose(arrays["probabilities"].sum(axis=1), 1, atol=1e-4)
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert 0 <= report["coverage_at_precision_90"] <= 1
    assert report["suggestions"]["threshold"] == read_model_file(model)[0].threshold
    ranked = report["ranked"]  # the file has no list rule: its answers are the single tags above
    assert ranked["list_mass"] == 0.0 and ranked["list_share"] == 0
    assert ranked["answered"] == pytest.approx(report["suggestions"]["coverage"])
    assert ranked["p_at_1"] == pytest.approx(report["accuracy"])
    assert ranked["accuracy_at_3"] >= ranked["p_at_1"]
