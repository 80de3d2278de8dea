from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ml.serving.model import build_model, file_version, load_model, native_input_size, read_model_file
from tests.ml_support import TINY_SIZE, make_tiny_model

# (backbone, stages = stem + blocks + head conv, the stage after the 112/120-channel group, its channels)
LITE_LAYOUTS = [("efficientnet-lite0", 18, 12, 112), ("efficientnet-lite1", 23, 16, 112),
                ("efficientnet-lite2", 23, 16, 120)]


@pytest.mark.parametrize(("backbone", "stages", "stop", "channels"), LITE_LAYOUTS)
def test_lite_stages_split_cleanly(backbone: str, stages: int, stop: int, channels: int) -> None:
    model = build_model(backbone, 5, TINY_SIZE, weights=None).eval()
    assert len(model.stages) == stages
    x = torch.randn(2, 3, TINY_SIZE, TINY_SIZE)
    with torch.inference_mode():
        middle = model.prefix(x, stop)
        assert middle.shape[1] == channels
        assert torch.allclose(model.forward_from(middle, stop), model(x), atol=1e-5)


@pytest.mark.parametrize("backbone", [layout[0] for layout in LITE_LAYOUTS])
def test_pretrained_lite_differs_from_random_init(backbone: str) -> None:
    pretrained = build_model(backbone, 5, TINY_SIZE)
    random = build_model(backbone, 5, TINY_SIZE, weights=None)
    key = "stages.0.conv.weight"
    assert not torch.equal(pretrained.state_dict()[key], random.state_dict()[key])


def test_native_input_sizes() -> None:
    backbones = ("efficientnet-lite0", "efficientnet-lite2", "resnet34")
    assert [native_input_size(backbone) for backbone in backbones] == [224, 260, 224]


def test_model_file_round_trip_is_weights_only(tmp_path: Path) -> None:
    path = make_tiny_model(tmp_path / "m.pt")
    raw = torch.load(path, weights_only=True)  # plain types + tensors only
    assert raw["spec"]["backbone"] == "efficientnet-lite0"
    spec, state = read_model_file(path)
    model, loaded_spec = load_model(path)
    assert loaded_spec == spec and not model.training
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    assert len(file_version(path)) == 12


def test_unknown_backbone_lists_choices() -> None:
    with pytest.raises(ValueError, match="resnet34"):
        build_model("vgg16", 3)


def test_resnet_backbone_builds_without_download() -> None:
    model = build_model("resnet18", 4, weights=None).eval()
    assert len(model.stages) == 5
    with torch.inference_mode():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 4)


def test_not_a_model_file(tmp_path: Path) -> None:
    torch.save({"weights": torch.zeros(1)}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not a scenetag model"):
        read_model_file(tmp_path / "x.pt")
