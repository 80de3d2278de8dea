"""Worker configuration from the environment (and an optional `.env`), built once at start.

`ServiceSettings` holds what every process that talks to the queue shares (the bot extends it too),
and `from_env()` turns a missing or malformed variable into one clear line instead of a traceback.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from ml.serving import DEFAULT_MODEL_CACHE_DIR, DEFAULT_ONNX_CACHE_DIR

# The model that ships in the repository; MODEL_PATH overrides it.
DEFAULT_MODEL_PATH = Path(__file__).resolve().parent.parent / "ml" / "models" / "default.pt"


class ServiceSettings(BaseSettings):
    """Settings shared by the bot and the worker."""

    # env_ignore_empty: an empty variable (`TTA=` in .env, `${TTA:-}` in compose) means the default.
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    redis_url: str = Field(default="redis://127.0.0.1:6379/0", pattern=r"^rediss?://|^unix://")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @classmethod
    def from_env(cls, **overrides: object) -> Self:
        """Build from the environment, or exit with one line naming the bad variable."""
        try:
            return cls(**overrides)  # type: ignore[arg-type]
        except ValidationError as exc:
            raise SystemExit(describe_validation_error(exc)) from None


# Variables whose value is never echoed: start-up errors end up in logs.
SECRET_NAME_PARTS = ("TOKEN", "SECRET", "PASSWORD")
# user:password@ in a URL (REDIS_URL, DATABASE_URL): the password is shown as ***.
URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^/@:\s]*:)[^/@\s]*@", re.IGNORECASE)


def redact_url(text: str) -> str:
    """`text` with every URL's password replaced by *** (`redis://:s3cret@redis:6379/0` ->
    `redis://:***@redis:6379/0`): what start-up errors and logs may show of REDIS_URL."""
    return URL_PASSWORD.sub(r"\g<head>***@", text)


def describe_validation_error(exc: ValidationError) -> str:
    """One line per bad variable, e.g. 'configuration error: TTA: Input should be ... (got "x")'."""
    parts = []
    for error in exc.errors():
        variable = "_".join(str(p) for p in error["loc"]).upper() or "?"
        got = error.get("input")
        secret = any(part in variable for part in SECRET_NAME_PARTS)
        hidden = isinstance(got, dict) or got is None or secret
        shown = "" if hidden else f" (got {redact_url(str(got))[:40]!r})"
        parts.append(f"{variable}: {error['msg']}{shown}")
    return "configuration error: " + "; ".join(parts)


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
