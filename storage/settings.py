"""Where the database lives, read by the bot, by `alembic` and by the `ml` commands that read feedback; and
the Bot API that serves the photos whose file ids it keeps (the bot, and `ml feedback export`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("data")
# Same sources as ServiceSettings (an empty variable means the default); BotSettings merges the configs.
ENV_CONFIG = SettingsConfigDict(
    env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
)


class DatabaseSettings(BaseSettings):
    """Where the database lives; `alembic` reads only this, so migrating needs no BOT_TOKEN."""

    model_config = ENV_CONFIG

    data_dir: Path = DEFAULT_DATA_DIR
    # Default: a SQLite file under DATA_DIR, so one machine needs no database server.
    database_url: str | None = None

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'scenetag.sqlite3'}"


class BotApiSettings(BaseSettings):
    """The Bot API: the bot's endpoint, and where `ml feedback export` downloads photos by their file ids."""

    model_config = ENV_CONFIG

    bot_token: str = Field(min_length=1, pattern=r"^\d+:[A-Za-z0-9_-]+$")
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_base_file_url: str = "https://api.telegram.org/file/bot"
