"""ml.serving.onnx_runtime: the ONNX Runtime forward pass gives the torch model's probabilities."""

from __future__ import annotations

import functools
import io
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from PIL import Image

from ml.serving import (
    DEFAULT_MODEL_CACHE_DIR,
    DEFAULT_ONNX_CACHE_DIR,
    UnsafeCacheDir,
    private_dir,
    user_cache_dir,
)
from ml.serving.inference import Classifier
from ml.serving.model import file_version, load_model
from ml.serving.onnx_runtime import NO_SPINNING, OnnxForward, cpu_session, export_onnx, load_onnx_classifier
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
    # no partial files left behind; the export's sha256 beside it
    assert sorted(tmp_path.iterdir()) == [exported, exported.with_name(exported.name + ".sha256")]


def test_a_cached_export_whose_hash_does_not_match_is_not_used(tmp_path: Path) -> None:
    model = served_model_path()
    load_onnx_classifier(model, tmp_path, threads=1)
    (exported,) = tmp_path.glob("*.onnx")
    good = exported.read_bytes()
    exported.write_bytes(b"planted")  # would fail to load, or load another network, if it were used
    classifier = load_onnx_classifier(model, tmp_path, threads=1)
    assert exported.read_bytes() == good
    assert classifier.version == file_version(model)
    exported.with_name(exported.name + ".sha256").unlink()  # an export nobody recorded: not trusted either
    exported.write_bytes(b"planted")
    load_onnx_classifier(model, tmp_path, threads=1)
    assert exported.read_bytes() == good


def test_the_cache_must_be_private(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    with pytest.raises(UnsafeCacheDir, match="writable by group or others"):
        load_onnx_classifier(served_model_path(), shared, threads=1)
    assert list(shared.iterdir()) == []
    created = private_dir(tmp_path / "new" / "onnx")
    assert stat.S_IMODE(created.stat().st_mode) == 0o700


def test_default_caches_are_the_users_not_the_temp_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "/home/svc/.cache")
    assert user_cache_dir("onnx") == Path("/home/svc/.cache/scenetag/onnx")
    assert not str(DEFAULT_ONNX_CACHE_DIR).startswith(tempfile.gettempdir())
    assert not str(DEFAULT_MODEL_CACHE_DIR).startswith(tempfile.gettempdir())



def test_the_cpu_sessions_threads_do_not_spin_between_runs(tmp_path: Path) -> None:
    export_onnx(served_model_path(), tmp_path / "m.onnx")
    session = cpu_session(tmp_path / "m.onnx", threads=1)
    assert session.get_session_options().get_session_config_entry(NO_SPINNING[0]) == NO_SPINNING[1]


def test_the_worker_lets_openmp_threads_sleep_unless_told_otherwise() -> None:
    script = "import os, worker.__main__; print(os.environ['OMP_WAIT_POLICY'])"
    run = functools.partial(subprocess.run, [sys.executable, "-c", script], capture_output=True, text=True)
    environment = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    assert run(env=environment, check=True).stdout.strip() == "PASSIVE"
    assert run(env=environment | {"OMP_WAIT_POLICY": "ACTIVE"}, check=True).stdout.strip() == "ACTIVE"
