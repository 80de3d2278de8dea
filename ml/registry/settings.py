"""What `ml promote`, `ml models` and `ml rollback` read from the environment (and an optional `.env`).

A class of its own: `ml` must not import the worker's settings, and these commands need nothing else.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from redis import Redis
from redis.exceptions import RedisError

from ml.registry.state import DEFAULT_KEEP


class RegistrySettings(BaseSettings):
    """The Redis the workers use, and how many earlier versions `ml promote` keeps."""

    # The same sources as the services' settings: an empty variable means the default.
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    redis_url: str = Field(default="redis://127.0.0.1:6379/0", pattern=r"^rediss?://|^unix://")
    # Earlier active versions kept (with their files, ~17 MB each) for `ml rollback`.
    model_registry_keep: int = Field(default=DEFAULT_KEEP, ge=0, le=100)

    @classmethod
    def from_env(cls) -> Self:
        """Build from the environment, or exit with one line naming the bad variable."""
        try:
            return cls()
        except ValidationError as exc:
            error = exc.errors()[0]
            variable = "_".join(str(part) for part in error["loc"]).upper()
            raise SystemExit(f"configuration error: {variable}: {error['msg']}") from None

    def connect(self) -> Redis:
        """A client for REDIS_URL, or exit with one line when nothing answers there."""
        connection = Redis.from_url(self.redis_url)
        try:
            connection.ping()
        except RedisError as exc:
            # Redis's error names the host and port; the URL is not shown, it may hold a password.
            raise SystemExit(f"cannot reach Redis at REDIS_URL: {exc}") from None
        return connection
