"""ml.serving.onnx_runtime: the ONNX Runtime forward pass gives the torch model's probabilities."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from PIL import Image

from ml.serving.inference import Classifier
from ml.serving.model import load_model
from ml.serving.onnx_runtime import OnnxForward, export_onnx, load_onnx_classifier
from tests.services import served_model_path


def photos() -> list[Image.Image]:
    rng = np.random.default_rng(7)
    smooth = [
        Image.fromarray(rng.integers(0, 255, (3, 4, 3), dtype=np.uint8)).resize((320, 240)) for _ in range(3)
    ]
    buffer = io.BytesIO()
    smooth[0].save(buffer, format="JPEG")
    return [*smooth, Image.open(buffer).convert("RGB").rotate(90, expand=True)]


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[Classifier, Classifier]:
    """(torch in fp32, ONNX Runtime) classifiers of the same model file."""
    torch.set_num_threads(1)
    model = served_model_path()
    reference = Classifier.load(model, device="cpu")
    # fp32 like ONNX: on CPUs with AMX the torch path autocasts to bf16, which moves tag probabilities by
    # up to ~0.04 (measured on the interim model) and would hide a real export error.
    reference._autocast = False
    return reference, load_onnx_classifier(model, tmp_path_factory.mktemp("onnx"), threads=1)


def test_exported_network_computes_the_torch_logits(tmp_path: Path) -> None:
    model_path = served_model_path()
    network, spec = load_model(model_path)
    export_onnx(model_path, tmp_path / "m.onnx")
    forward = OnnxForward(onnxruntime.InferenceSession(str(tmp_path / "m.onnx")))
    images = torch.randn(5, 3, spec.input_size, spec.input_size, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        expected = network(images)
    got = forward(images)
    assert got.shape == expected.shape == (5, len(spec.classes))
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-4), float((got - expected).abs().max())


@pytest.mark.parametrize("tta", [1, 3])
def test_onnx_and_torch_classifiers_agree(both: tuple[Classifier, Classifier], tta: int) -> None:
    reference, onnx = both
    images = photos()
    expected = reference.predict(images, tta)
    got = onnx.predict(images, tta)
    for mine, theirs in zip(got, expected, strict=True):
        assert mine.probabilities == pytest.approx(theirs.probabilities, abs=1e-4)
        assert (mine.hashtag, mine.suggested) == (theirs.hashtag, theirs.suggested)
        assert [scene for scene, _ in mine.scenes] == [scene for scene, _ in theirs.scenes]
    assert (onnx.name, onnx.version, onnx.input_size) == (
        reference.name,
        reference.version,
        reference.input_size,
    )


def test_export_is_cached_by_model_version(tmp_path: Path) -> None:
    model = served_model_path()
    load_onnx_classifier(model, tmp_path, threads=1)
    (exported,) = tmp_path.glob("*.onnx")
    before = exported.stat().st_mtime_ns
    load_onnx_classifier(model, tmp_path, threads=1)
    assert exported.stat().st_mtime_ns == before
    assert list(tmp_path.iterdir()) == [exported]  # no partial files left behind

