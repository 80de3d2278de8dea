"""What every scenetag process reads from its environment the same way (bot, worker, web, `ml`): the sources
(`ENV_CONFIG`), the Redis address, the Bot API, the photo byte limit, and the one-line configuration error
that never echoes a secret, a password inside a URL included. Each service's settings class adds only its own
fields. Redis clients: `config.clients`; serving a process's Prometheus metrics: `config.exposition`."""

from __future__ import annotations

import re
from typing import Self

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

# The environment, then an optional `.env`; an empty variable (`TTA=` in .env, `${TTA:-}` in compose) means
# the default; variables of other services are ignored.
ENV_CONFIG = SettingsConfigDict(
    env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
)
# The largest photo any part accepts: the Bot API's own getFile limit, the worker's decode limit and the HTTP
# API's default upload limit.
MAX_PHOTO_BYTES = 20 * 1024 * 1024
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

# Variables whose value is never echoed: start-up errors end up in logs.
SECRET_NAME_PARTS = ("TOKEN", "SECRET", "PASSWORD")
# user:password@ in a URL (REDIS_URL, DATABASE_URL): the password is shown as ***.
URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^/@:\s]*:)[^/@\s]*@", re.IGNORECASE)


def redact_url(text: str) -> str:
    """`text` with every URL's password replaced by *** (`redis://:s3cret@redis:6379/0` ->
    `redis://:***@redis:6379/0`): what start-up errors and logs may show of REDIS_URL."""
    return URL_PASSWORD.sub(r"\g<head>***@", text)


def configuration_error(variable: str, problem: str) -> str:
    """The one line a process exits with for a bad setting: 'configuration error: VAR: problem'."""
    return f"configuration error: {variable}: {redact_url(problem)}"


def describe_validation_error(exc: ValidationError) -> str:
    """One line for all bad variables, e.g. 'configuration error: TTA: Input should be ... (got "x")'."""
    parts = []
    for error in exc.errors():
        variable = "_".join(str(p) for p in error["loc"]).upper() or "?"
        got = error.get("input")
        secret = any(part in variable for part in SECRET_NAME_PARTS)
        hidden = isinstance(got, dict) or got is None or secret
        shown = "" if hidden else f" (got {redact_url(str(got))[:40]!r})"
        parts.append(f"{variable}: {error['msg']}{shown}")
    return "configuration error: " + "; ".join(parts)


class EnvSettings(BaseSettings):
    """The base of every settings class: `ENV_CONFIG`'s sources and `from_env`."""

    model_config = ENV_CONFIG

    @classmethod
    def from_env(cls, **overrides: object) -> Self:
        """Build from the environment, or exit with one line naming the bad variable."""
        try:
            return cls(**overrides)  # type: ignore[arg-type]
        except ValidationError as exc:
            raise SystemExit(describe_validation_error(exc)) from None


class RedisSettings(EnvSettings):
    """Where the queue, the results and the shared state live."""

    redis_url: str = Field(default=DEFAULT_REDIS_URL, pattern=r"^rediss?://|^unix://")


class BotApiSettings(EnvSettings):
    """The Bot API: the bot's endpoint, the dashboard's logins, and where `ml feedback export` downloads
    photos by their file ids."""

    bot_token: str = Field(min_length=1, pattern=r"^\d+:[A-Za-z0-9_-]+$")
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_base_file_url: str = "https://api.telegram.org/file/bot"
