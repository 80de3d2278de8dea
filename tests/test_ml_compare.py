"""`ml compare` on a few real photos and tiny untrained models: the paired report, the verdict, and that each
model's tags are the ones the worker would serve."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ml.cli import main as ml_main
from ml.serving.images import load_image
from ml.serving.inference import Classifier
from ml.training.significance import NO_DIFFERENCE
from tests.ml_support import make_tiny_data, make_tiny_model

TORCH = ["--backend", "torch", "--device", "cpu", "--threads", "1"]
MODEL_KEYS = {"path", "name", "version", "tta", "temperature", "tag_balance", "accuracy", "weighted_accuracy",
              "coverage_at_precision_90", "threshold_at_precision_90", "suggestions", "backend",
              "telegram_size", "ranked"}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_data(tmp_path_factory.mktemp("compare") / "data", per_class=2)


def compare(tmp_path: Path, a: Path, b: Path, data: Path, *extra: str) -> dict:
    out = tmp_path / "compare.json"
    assert ml_main(["compare", str(a), str(b), "--data", str(data), "--json", str(out),
                    "--onnx-cache", str(tmp_path / "onnx"), *extra]) == 0
    return json.loads(out.read_text())


def test_a_model_against_itself_is_no_significant_difference(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_tiny_model(tmp_path / "m.pt")
    report = compare(tmp_path, model, model, data, "--threads", "1")  # the CPU default: ONNX Runtime
    assert report["photos"] == 6 and report["part"] == "all"
    assert set(report["models"]) == {"A", "B"} and set(report["models"]["A"]) == MODEL_KEYS
    a, b = report["models"]["A"], report["models"]["B"]
    assert a == b
    mcnemar = report["mcnemar"]
    assert mcnemar["only_a_right"] == mcnemar["only_b_right"] == 0 and mcnemar["p_value"] == 1.0
    assert mcnemar["both_right"] == round(a["accuracy"] * 6)
    assert mcnemar["both_wrong"] == 6 - mcnemar["both_right"]
    assert report["decision"] == NO_DIFFERENCE
    assert report["verdict"] == "no significant difference (p = 1 >= 0.05): keep A"
    printed = capsys.readouterr().out
    assert "verdict (McNemar exact): no significant difference (p = 1 >= 0.05): keep A" in printed
    assert "tag accuracy" in printed and "coverage at precision 0.90" in printed


def test_two_models_are_paired_and_scored_as_the_worker_serves_them(data: Path, tmp_path: Path) -> None:
    photos = sorted(data.rglob("*.jpg"))
    images = [load_image(p) for p in photos]
    calibrated = {"temperature": 0.5, "tag_balance": 0.5, "recommended_tta": 2}
    torch.manual_seed(1)
    draft = Classifier.load(make_tiny_model(tmp_path / "draft.pt", **calibrated), "cpu").predict(images, 2)
    # Thresholds that split these photos: the median confidence, and the most confident photo's tag never.
    most_confident = sorted(draft, key=lambda p: p.confidence)
    rule = {"threshold": most_confident[3].confidence, "tag_thresholds": {most_confident[-1].hashtag: 1.0}}
    torch.manual_seed(0)
    a = make_tiny_model(tmp_path / "a.pt", threshold=most_confident[2].confidence)
    torch.manual_seed(1)
    b = make_tiny_model(tmp_path / "b.pt", **calibrated, **rule)
    report = compare(tmp_path, a, b, data, *TORCH)
    m = report["mcnemar"]
    assert sum(m[k] for k in ("both_right", "only_a_right", "only_b_right", "both_wrong")) == 6
    assert report["models"]["A"]["accuracy"] == (m["both_right"] + m["only_a_right"]) / 6
    assert report["models"]["B"]["accuracy"] == (m["both_right"] + m["only_b_right"]) / 6
    assert [report["models"][k]["tta"] for k in "AB"] == [1, 2]  # each model's recommended TTA by default

    # The worker's own path (Classifier.predict) suggests for the photos the report scored.
    truth = {"abbey": "church", "shop": "shopping", "coffee_shop": "cafe"}
    for name, path, tta in (("A", a, 1), ("B", b, 2)):
        served = Classifier.load(path, "cpu").predict(images, tta)
        suggested = [(p, s.suggested) for p, s in zip(photos, served, strict=True) if s.suggested]
        scored = report["models"][name]["suggestions"]
        assert scored["coverage"] == len(suggested) / 6, name
        right = sum(tag == truth[p.parent.name] for p, tag in suggested)
        assert scored["precision"] == (right / len(suggested) if suggested else 1.0), name
    assert report["models"]["B"]["suggestions"]["coverage"] < 0.5  # the per-tag threshold took one away

    assert compare(tmp_path, a, b, data, "--tta", "1", *TORCH)["models"]["B"]["tta"] == 1


def test_refuses_models_that_disagree_on_the_ground_truth(data: Path, tmp_path: Path) -> None:
    a = make_tiny_model(tmp_path / "a.pt")
    b = make_tiny_model(tmp_path / "b.pt", remap={"/a/abbey": "architecture", "/b/bakery/shop": "shopping",
                                                  "/c/coffee_shop": "cafe"})
    with pytest.raises(SystemExit, match=r"map 1 scene\(s\) of these photos to different tags \(/a/abbey\)"):
        ml_main(["compare", str(a), str(b), "--data", str(data), *TORCH])
    with pytest.raises(SystemExit, match="no model file"):
        ml_main(["compare", str(a), str(tmp_path / "missing.pt"), "--data", str(data)])
    with pytest.raises(SystemExit, match="--tta must be at least 1"):
        ml_main(["compare", str(a), str(a), "--data", str(data), "--tta", "0"])
    with pytest.raises(SystemExit, match="does not exist"):
        ml_main(["compare", str(a), str(a), "--data", str(tmp_path / "nowhere")])


def test_telegram_copy_is_the_one_the_bot_downloads() -> None:
    """A 4:3 photo becomes Telegram's 1280x960 original; a 240 px model needs its 320 px copy, a 260 px one
    the 800 px copy, a bigger one the largest."""
    import io

    from PIL import Image

    from ml.cli.compare import telegram_copy

    photo = Image.new("RGB", (128, 96), (10, 120, 200))
    sides = {(choice, side): Image.open(io.BytesIO(telegram_copy(photo, choice, side))).size
             for choice, side in (("largest", 260), ("fit", 240), ("fit", 260), ("fit", 2000))}
    assert sides == {("largest", 260): (1280, 960), ("fit", 240): (320, 240), ("fit", 260): (800, 600),
                     ("fit", 2000): (1280, 960)}


def test_telegram_sizes_show_each_model_its_copy(data: Path, tmp_path: Path) -> None:
    model = make_tiny_model(tmp_path / "m.pt")
    report = compare(tmp_path, model, model, data, *TORCH, "--telegram-size-a", "largest",
                     "--telegram-size-b", "fit")
    a, b = report["models"]["A"], report["models"]["B"]
    assert (a["telegram_size"], b["telegram_size"], a["backend"]) == ("largest", "fit", "torch")
    assert report["photos"] == 6
