"""Worker configuration from the environment (and an optional `.env`), built once at start.

`ServiceSettings` holds what every process that talks to the queue shares (the bot and the web service
extend it too); the sources, `from_env()` and the error line are the shared `config` module's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field

from config import RedisSettings
from ml.serving import DEFAULT_MODEL_CACHE_DIR, DEFAULT_ONNX_CACHE_DIR

# The model that ships in the repository; MODEL_PATH overrides it.
DEFAULT_MODEL_PATH = Path(__file__).resolve().parent.parent / "ml" / "models" / "default.pt"


class ServiceSettings(RedisSettings):
    """Settings shared by the bot, the worker and the web service."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class WorkerSettings(ServiceSettings):
    """Settings of `scenetag-worker`."""

    model_path: Path = DEFAULT_MODEL_PATH
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # Forward pass: "onnx" (ONNX Runtime, 3x faster than torch on our CPUs), "torch", or "auto":
    # onnx when the device is the CPU, torch (with autocast and channels_last) on CUDA.
    backend: Literal["auto", "torch", "onnx"] = "auto"
    # ONNX Runtime's arithmetic: "int8" serves the model file's int8 graph (`ml quantize`; refused at start
    # for a file without one), "fp32" the exact export, "auto" int8 when the file has such a graph.
    precision: Literal["auto", "fp32", "int8"] = "auto"
    # Where the ONNX export of MODEL_PATH is cached, by the model's content hash. Both caches must be this
    # user's alone (`ml.serving.private_dir`): what lies there is loaded as a model.
    onnx_cache_dir: Path = DEFAULT_ONNX_CACHE_DIR
    # Where model files fetched from the registry (`ml promote`) are kept, by version; those of versions the
    # registry no longer stores are deleted.
    model_cache_dir: Path = DEFAULT_MODEL_CACHE_DIR
    # Test-time copies averaged per photo; unset: the model file's recommended TTA (its measured gain).
    tta: int | None = Field(default=None, ge=1, le=32)
    # torch's CPU threads, set explicitly: its own default can oversubscribe a shared box (rq #1991).
    torch_threads: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=256)
    batch_size: int = Field(default=16, ge=1, le=256)  # most waiting photos classified in one forward pass
    # How often RQ's registries are cleaned, which is when jobs of a dead worker are found (RQ: 600 s).
    maintenance_interval: int = Field(default=60, ge=1)
    # A started job whose worker died counts as abandoned this many seconds after its timeout (RQ: 60).
    abandon_grace_s: int = Field(default=60, ge=1)
    metrics_port: int = Field(default=9102, ge=0, le=65535)  # Prometheus scrapes /metrics here; 0: off
