from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ml.cli import main as ml_main
from ml.cli.evaluate import gallery_picks
from ml.serving.model import read_model_file
from tests.ml_support import make_tiny_data, make_tiny_model


def test_gallery_picks_most_confident_right_and_wrong() -> None:
    correct = np.array([True, False, True, False, True])
    confidence = np.array([0.5, 0.9, 0.8, 0.2, 0.99])
    assert gallery_picks(correct, confidence, 2) == ([4, 2], [1, 3])


def test_evaluate_writes_report_pngs_and_record_embeds_it_in_a_model(tmp_path: Path) -> None:
    data = make_tiny_data(tmp_path / "data", per_class=2)
    model = make_tiny_model(tmp_path / "m.pt")
    remap = tmp_path / "remap.csv"
    remap.write_text("sun_class,hashtag\n/a/abbey,architecture\n/b/bakery/shop,shopping\n/c/coffee_shop,cafe\n")
    out = tmp_path / "eval"
    assert ml_main(["evaluate", "--model", str(model), "--data", str(data), "--tta", "2",
                    "--output", str(out), "--remap", str(remap), "--threads", "1"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["photos"] == 6 and report["tta"] == 2
    assert 0 <= report["weighted_accuracy"] <= 1 and 0 <= report["accuracy"] <= 1
    assert report["per_tag"]["architecture"]["support"] == 2 and report["per_tag"]["church"]["support"] == 0
    assert [r["tag_balance"] for r in report["tag_balance_sweep"]] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert (out / "confusion.png").stat().st_size > 1000 and (out / "gallery.png").stat().st_size > 1000
    assert ml_main(["record", str(model), "--report", str(out / "report.json"),
                    "--out", str(tmp_path / "m2.pt"), "--adopt-threshold"]) == 0
    spec, _ = read_model_file(tmp_path / "m2.pt")
    assert spec.remap["/a/abbey"] == "architecture"
    assert spec.threshold == report["recommended_threshold"]
    assert spec.metrics["all_tta2"]["accuracy"] == report["accuracy"]
    assert len(list((out / "onnx").glob("*.onnx"))) == 1  # on the CPU the default backend is ONNX Runtime


def test_evaluate_backends_agree(tmp_path: Path) -> None:
    data = make_tiny_data(tmp_path / "data", per_class=2)
    model = make_tiny_model(tmp_path / "m.pt")
    reports = {}
    for backend in ("torch", "onnx"):
        out = tmp_path / backend
        assert ml_main(["evaluate", "--model", str(model), "--data", str(data), "--output", str(out),
                        "--backend", backend, "--device", "cpu", "--threads", "1"]) == 0
        reports[backend] = json.loads((out / "report.json").read_text())
    assert not (tmp_path / "torch" / "onnx").exists()
    for key in ("photos", "accuracy", "weighted_accuracy", "scene_accuracy"):
        assert reports["torch"][key] == reports["onnx"][key], key


def test_record_refuses_a_report_of_another_model(tmp_path: Path) -> None:
    data = make_tiny_data(tmp_path / "data", per_class=1)
    model = make_tiny_model(tmp_path / "m.pt")
    other = make_tiny_model(tmp_path / "other.pt", threshold=0.6)
    out = tmp_path / "eval"
    assert ml_main(["evaluate", "--model", str(other), "--data", str(data), "--output", str(out),
                    "--threads", "1"]) == 0
    with pytest.raises(SystemExit, match="evaluate this file first"):
        ml_main(["record", str(model), "--report", str(out / "report.json"), "--out", str(tmp_path / "x.pt")])
    assert not (tmp_path / "x.pt").exists()
