"""Worker configuration from the environment (and an optional `.env`), built once at start.

`ServiceSettings` holds what every process that talks to the queue shares (the bot extends it too),
and `from_env()` turns a missing or malformed variable into one clear line instead of a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

# The model that ships in the repository; MODEL_PATH overrides it.
DEFAULT_MODEL_PATH = Path(__file__).resolve().parent.parent / "ml" / "models" / "default.pt"


class ServiceSettings(BaseSettings):
    """Settings shared by the bot and the worker."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    redis_url: str = Field(default="redis://127.0.0.1:6379/0", pattern=r"^rediss?://|^unix://")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @classmethod
    def from_env(cls, **overrides: object) -> Self:
        """Build from the environment, or exit with one line naming the bad variable."""
        try:
            return cls(**overrides)  # type: ignore[arg-type]
        except ValidationError as exc:
            raise SystemExit(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    """One line per bad variable, e.g. 'configuration error: TTA: Input should be ... (got "x")'."""
    parts = []
    for error in exc.errors():
        variable = "_".join(str(p) for p in error["loc"]).upper() or "?"
        got = error.get("input")
        shown = "" if isinstance(got, dict) or got is None else f" (got {str(got)[:40]!r})"
        parts.append(f"{variable}: {error['msg']}{shown}")
    return "configuration error: " + "; ".join(parts)


class WorkerSettings(ServiceSettings):
    """Settings of `scenetag-worker`."""

    model_path: Path = DEFAULT_MODEL_PATH
    device: Literal["auto", "cpu", "cuda"] = "auto"
    tta: int = Field(default=8, ge=1, le=32)  # test-time copies averaged per photo
