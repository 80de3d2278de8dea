"""`ml ensemble`: one model file whose probabilities are the mean of its members' (tiny untrained models)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from ml.cli import main
from ml.cli.ensemble import ensemble_spec
from ml.serving.inference import Classifier
from ml.serving.model import EnsembleNet, load_model
from tests.ml_support import make_tiny_model

REMAP = {"/a/abbey": "church", "/b/bakery/shop": "shopping", "/c/coffee_shop": "cafe"}  # make_tiny_model's


def member(path: Path, backbone: str, size: int, seed: int, classes: int = 3) -> Path:
    torch.manual_seed(seed)
    return make_tiny_model(path, backbone, size, classes, threshold=0.4, tag_balance=0.25,
                           data_fingerprint="same", list_mass=0.8, list_max_tags=2)


def pair(folder: Path) -> tuple[Path, Path]:
    return (member(folder / "a.pt", "efficientnet-lite0", 64, 1),
            member(folder / "b.pt", "efficientnet-lite0", 64, 2))


def photos() -> list[Image.Image]:
    return [Image.new("RGB", (90, 60), (200, 30, 30)), Image.radial_gradient("L").convert("RGB")]


def test_ensemble_probabilities_are_the_members_mean(tmp_path: Path) -> None:
    a, b = pair(tmp_path)
    assert main(["ensemble", str(a), str(b), "--output", str(tmp_path / "ab.pt")]) == 0
    model, spec = load_model(tmp_path / "ab.pt")
    assert isinstance(model, EnsembleNet) and spec.backbone == "efficientnet-lite0+efficientnet-lite0"
    assert (spec.threshold, spec.tag_balance, spec.remap) == (0.4, 0.25, REMAP)
    assert (spec.list_mass, spec.list_max_tags) == (0.8, 2)  # the ranked-list rule travels too
    expected = (Classifier.load(a, "cpu").class_probabilities(photos())
                + Classifier.load(b, "cpu").class_probabilities(photos())) / 2
    got = Classifier.load(tmp_path / "ab.pt", "cpu").class_probabilities(photos())
    assert torch.allclose(got, expected, atol=1e-5)
    assert not torch.allclose(expected, Classifier.load(a, "cpu").class_probabilities(photos()), atol=1e-3)


def test_smaller_member_gets_the_input_resized(tmp_path: Path) -> None:
    small = member(tmp_path / "s.pt", "efficientnet-lite0", 64, 1)
    large = member(tmp_path / "l.pt", "efficientnet-lite2", 80, 2)
    assert main(["ensemble", str(small), str(large), "--output", str(tmp_path / "e.pt"), "--float16"]) == 0
    model, spec = load_model(tmp_path / "e.pt")
    assert spec.input_size == 80 and [m["input_size"] for m in spec.members] == [64, 80]
    assert all(p.dtype == torch.float32 for p in model.parameters())  # float16 only on disk
    x = torch.randn(2, 3, 80, 80)
    small_model, large_model = load_model(small)[0], load_model(large)[0]
    with torch.inference_mode():
        resized = torch.nn.functional.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False)
        expected = (small_model(resized).softmax(1) + large_model(x).softmax(1)) / 2
        assert torch.allclose(model(x).softmax(1), expected, atol=2e-3)  # float16 storage rounding


def test_float16_halves_the_file(tmp_path: Path) -> None:
    a, b = pair(tmp_path)
    main(["ensemble", str(a), str(b), "--output", str(tmp_path / "32.pt")])
    main(["ensemble", str(a), str(b), "--output", str(tmp_path / "16.pt"), "--float16"])
    assert (tmp_path / "16.pt").stat().st_size < 0.55 * (tmp_path / "32.pt").stat().st_size


def test_members_that_cannot_be_averaged_are_refused(tmp_path: Path) -> None:
    a = member(tmp_path / "a.pt", "efficientnet-lite0", 64, 1)
    other = member(tmp_path / "o.pt", "efficientnet-lite0", 64, 2, classes=2)
    with pytest.raises(SystemExit, match="members differ in classes"):
        main(["ensemble", str(a), str(other), "--output", str(tmp_path / "x.pt")])
    nested = load_model(a)[1]
    nested.members = [{"backbone": "efficientnet-lite0", "input_size": 64}]
    with pytest.raises(ValueError, match="ensemble already"):
        ensemble_spec([load_model(a)[1], nested], "ml ensemble")


def test_members_of_different_photo_sets_need_mixed_data(tmp_path: Path) -> None:
    a = member(tmp_path / "a.pt", "efficientnet-lite0", 64, 1)
    torch.manual_seed(3)
    newer = make_tiny_model(tmp_path / "n.pt", threshold=0.4, tag_balance=0.25, data_fingerprint="more")
    with pytest.raises(SystemExit, match="members differ in data_fingerprint"):
        main(["ensemble", str(a), str(newer), "--output", str(tmp_path / "x.pt")])
    assert main(["ensemble", str(a), str(newer), "--output", str(tmp_path / "x.pt"), "--mixed-data"]) == 0
    spec = load_model(tmp_path / "x.pt")[1]
    assert spec.data_fingerprint == "same+more"
    assert [m["data_fingerprint"] for m in spec.members] == ["same", "more"]


def test_a_member_of_an_ensemble_file_can_join_a_new_ensemble(tmp_path: Path) -> None:
    a = member(tmp_path / "a.pt", "efficientnet-lite0", 64, 1)
    b = member(tmp_path / "b.pt", "efficientnet-lite1", 72, 2)
    c = member(tmp_path / "c.pt", "efficientnet-lite0", 64, 3)
    main(["ensemble", str(a), str(b), "--output", str(tmp_path / "ab.pt")])
    assert main(["ensemble", str(c), f"{tmp_path / 'ab.pt'}@efficientnet-lite1",
                 "--output", str(tmp_path / "cb.pt")]) == 0
    direct = Classifier.load(b, "cpu").class_probabilities(photos())
    model, spec = load_model(tmp_path / "cb.pt")
    assert [m["input_size"] for m in spec.members] == [64, 72]
    assert torch.allclose(model.members[1](torch.zeros(1, 3, 72, 72)).softmax(dim=1),
                          load_model(b)[0](torch.zeros(1, 3, 72, 72)).softmax(dim=1))
    assert direct.shape == (2, 3)
    with pytest.raises(SystemExit, match="0 members are efficientnet-lite2"):
        main(["ensemble", str(c), f"{tmp_path / 'ab.pt'}@efficientnet-lite2",
              "--output", str(tmp_path / "x.pt")])
