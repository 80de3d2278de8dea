"""What `ml promote`, `ml models` and `ml rollback` read from the environment (and an optional `.env`).

A class of its own: `ml` must not import the worker's settings, and these commands need nothing else.
"""

from __future__ import annotations

from pydantic import Field
from redis import Redis

from config import RedisSettings
from config.clients import connected
from ml.registry.state import DEFAULT_KEEP


class RegistrySettings(RedisSettings):
    """The Redis the workers use, and how many earlier versions `ml promote` keeps."""

    # Earlier active versions kept (with their files, ~17 MB each) for `ml rollback`.
    model_registry_keep: int = Field(default=DEFAULT_KEEP, ge=0, le=100)

    def connect(self) -> Redis:
        """A client for REDIS_URL, or exit with one line when nothing answers there."""
        return connected(self.redis_url)
