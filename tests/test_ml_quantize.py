"""`ml quantize`: an int8 graph calibrated on validation photos, stored in the model file with its sha256 and
the calibration's fingerprint, served by PRECISION auto/int8 and kept off by fp32 (tiny untrained models)."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
import torch
from PIL import Image

from ml.cli import main
from ml.serving.loading import load_classifier
from ml.serving.model import INT8_GRAPH_KEY, read_int8_graph, read_model_file, save_with_spec
from ml.training import data as ds
from tests.ml_support import make_tiny_data, make_tiny_model


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(data folder, split file): two thirds of the tiny photos in validation, the rest held out."""
    root = make_tiny_data(tmp_path_factory.mktemp("data"))
    samples = ds.scan(root)
    validation = [s.path for i, s in enumerate(samples) if i % 3]
    split = tmp_path_factory.mktemp("split") / "split.json"
    split.write_text(json.dumps({"how": "test", "train": [], "validation": validation,
                                 "heldout": [s.path for s in samples if s.path not in validation]}))
    return root, split


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    a = make_tiny_model(folder / "a.pt", "efficientnet-lite0", size=64)
    b = make_tiny_model(folder / "b.pt", "efficientnet-lite1", size=72)
    # Untrained members share equal tensors, which the exporter stores once; trained ones never do.
    spec, state = read_model_file(b)
    generator = torch.Generator().manual_seed(0)
    save_with_spec(b, spec, {k: v + 0.01 * torch.randn(v.shape, generator=generator) if v.is_floating_point()
                             else v for k, v in state.items()})
    assert main(["ensemble", str(a), str(b), "--output", str(folder / "ab.pt")]) == 0
    return folder / "ab.pt"


def quantize(model: Path, photos: tuple[Path, Path], output: Path, *extra: str) -> int:
    root, split = photos
    return main(["quantize", "--model", str(model), "--data", str(root), "--split", str(split),
                 "--output", str(output), "--onnx-cache", str(output.parent / "onnx"), *extra])


def dequantized_inputs(graph: bytes, prefix: str) -> int:
    """How many inputs of the nodes under `prefix` come out of a DequantizeLinear (an int8 tensor)."""
    nodes = onnx.load_from_string(graph).graph.node
    dequantized = {out for n in nodes if n.op_type == "DequantizeLinear" for out in n.output}
    return sum(name in dequantized for n in nodes if n.name.startswith(prefix) for name in n.input)


def test_int8_graph_is_stored_with_its_hash_and_calibration(ensemble, photos, tmp_path) -> None:
    output = tmp_path / "int8.pt"
    assert quantize(ensemble, photos, output, "--per-class", "2") == 0
    spec, _ = read_model_file(output)
    graph = read_int8_graph(output)
    assert graph is not None and spec.quantized["bytes"] == len(graph)
    calibration = ds.stratified_subset(ds.read_split(photos[1], "validation"), 2, 0)
    assert spec.quantized["calibration"] == {
        "split": str(photos[1]), "part": "validation", "per_class": 2, "seed": 0, "photos": len(calibration),
        "fingerprint": ds.fingerprint(calibration), "method": "minmax"}
    heldout = {s.path for s in ds.read_split(photos[1], "heldout")}
    assert not heldout & {s.path for s in calibration}
    assert spec.quantized["int8_members"] == ["efficientnet-lite0", "efficientnet-lite1"]
    assert dequantized_inputs(graph, "/members.0/") > 0 and dequantized_inputs(graph, "/members.1/") > 0

    images = [Image.open(p).convert("RGB") for p in sorted(photos[0].rglob("*.jpg"))[:4]]
    int8 = load_classifier(output, "cpu", "onnx", 1, tmp_path / "onnx")
    fp32 = load_classifier(output, "cpu", "onnx", 1, tmp_path / "onnx", precision="fp32")
    assert (int8.backend, fp32.backend) == ("onnx-int8", "onnx")
    difference = (int8.class_probabilities(images) - fp32.class_probabilities(images)).abs().max()
    assert 0 < difference < 0.05


def test_a_member_can_stay_fp32(ensemble, photos, tmp_path) -> None:
    output = tmp_path / "int8.pt"
    assert quantize(ensemble, photos, output, "--per-class", "1", "--fp32-members", "1") == 0
    spec, _ = read_model_file(output)
    assert (spec.quantized["int8_members"], spec.quantized["fp32_members"]) == (
        ["efficientnet-lite0"], ["efficientnet-lite1"])
    graph = read_int8_graph(output)
    assert dequantized_inputs(graph, "/members.0/") > 0 and dequantized_inputs(graph, "/members.1/") == 0


def test_bad_requests_are_clear(ensemble, photos, tmp_path) -> None:
    with pytest.raises(SystemExit, match=r"members 0\.\.1"):
        quantize(ensemble, photos, tmp_path / "x.pt", "--fp32-members", "2")
    with pytest.raises(SystemExit, match="no model file"):
        quantize(tmp_path / "missing.pt", photos, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="no int8 graph"):
        load_classifier(ensemble, "cpu", "onnx", 1, tmp_path / "onnx", precision="int8")
    with pytest.raises(ValueError, match="ONNX Runtime"):
        load_classifier(ensemble, "cpu", "torch", precision="int8")


def test_a_graph_that_does_not_match_its_hash_is_refused(ensemble, photos, tmp_path) -> None:
    output = tmp_path / "int8.pt"
    quantize(ensemble, photos, output, "--per-class", "1")
    data = torch.load(output, weights_only=True)
    data[INT8_GRAPH_KEY][-1] ^= 1
    torch.save(data, output)
    with pytest.raises(ValueError, match="does not match"):
        load_classifier(output, "cpu", "onnx", 1, tmp_path / "onnx")


def test_a_changed_spec_drops_the_int8_graph(ensemble, photos, tmp_path) -> None:
    """ml calibrate and ml record write the weights again without the graph: re-quantize the new file."""
    output = tmp_path / "int8.pt"
    quantize(ensemble, photos, output, "--per-class", "1")
    spec, state = read_model_file(output)
    save_with_spec(tmp_path / "recorded.pt", spec, state)
    assert read_int8_graph(tmp_path / "recorded.pt") is None
    assert read_model_file(tmp_path / "recorded.pt")[0].quantized == {}
