"""scenetag-worker start-up: a bad configuration stops it with one clear line, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fake_classifier import installed_fake
from tests.services import served_model_path
from worker import __main__ as worker_main
from worker import jobs
from worker.batching import BatchingWorker


def run_worker(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "METRICS_PORT": "0", **env}
    return subprocess.run(
        [sys.executable, "-m", "worker", "--burst"],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_missing_model_file_is_one_line(tmp_path: Path, redis_url: str) -> None:
    done = run_worker(tmp_path, REDIS_URL=redis_url, MODEL_PATH=str(tmp_path / "nope.pt"))
    assert done.returncode == 1
    expected = f"configuration error: MODEL_PATH: no model file at {tmp_path / 'nope.pt'}"
    assert done.stderr.strip().splitlines() == [expected]


def test_unreachable_redis_is_one_line(tmp_path: Path) -> None:
    model = tmp_path / "model.pt"
    model.write_bytes(b"never loaded: Redis is checked first")
    done = run_worker(tmp_path, REDIS_URL="redis://127.0.0.1:1/0", MODEL_PATH=str(model))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cannot reach Redis at REDIS_URL=redis://127.0.0.1:1/0")


def test_malformed_variable_is_one_line(tmp_path: Path) -> None:
    done = run_worker(tmp_path, TTA="lots")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("configuration error: TTA")


def test_onnx_backend_on_cuda_is_one_line(tmp_path: Path, redis_url: str) -> None:
    model = served_model_path()
    done = run_worker(tmp_path, REDIS_URL=redis_url, MODEL_PATH=str(model), DEVICE="cuda", BACKEND="onnx")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "configuration error: BACKEND: onnx runs on the CPU only; set DEVICE=cpu or BACKEND=torch"
    ]


def test_worker_exits_1_when_the_rq_loop_dies(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RQ's work() returns normally after an unhandled error: the process must still report failure."""
    (tmp_path / "model.pt").write_bytes(b"never loaded: the fake classifier is installed")
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("MODEL_PATH", str(tmp_path / "model.pt"))
    monkeypatch.setenv("METRICS_PORT", "0")

    def broken_dequeue(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated failure inside RQ's loop")

    monkeypatch.setattr(BatchingWorker, "dequeue_job_and_maintain_ttl", broken_dequeue)
    with installed_fake(default_tta=1):
        # main builds its models from its settings: give it the fake's service instead of loading MODEL_PATH
        monkeypatch.setattr(worker_main, "ModelService", lambda settings: jobs.installed())
        assert worker_main.main([]) == 1


def test_unreachable_redis_is_named_without_its_password(tmp_path: Path) -> None:
    model = tmp_path / "model.pt"
    model.write_bytes(b"never loaded: Redis is checked first")
    done = run_worker(tmp_path, REDIS_URL="redis://:s3cret@127.0.0.1:1/0", MODEL_PATH=str(model))
    assert done.returncode == 1
    assert "s3cret" not in done.stderr and "redis://:***@127.0.0.1:1/0" in done.stderr


def test_a_shared_cache_folder_is_refused_at_start(tmp_path: Path, redis_url: str) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    model = str(served_model_path())
    done = run_worker(tmp_path, REDIS_URL=redis_url, MODEL_PATH=model, ONNX_CACHE_DIR=str(shared))
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("configuration error: ONNX_CACHE_DIR: ") and "writable by group or others" in line
