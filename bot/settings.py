"""Bot configuration from the environment (and an optional `.env`), built once at start."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from worker.settings import ServiceSettings

DEFAULT_DATA_DIR = Path("data")


class BotSettings(ServiceSettings):
    """Settings of `scenetag-bot`. BOT_TOKEN is required; the rest have working defaults."""

    bot_token: str = Field(min_length=1, pattern=r"^\d+:[A-Za-z0-9_-]+$")
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_base_file_url: str = "https://api.telegram.org/file/bot"
    data_dir: Path = DEFAULT_DATA_DIR
    # Default: a SQLite file under DATA_DIR, so one machine needs no database server.
    database_url: str | None = None

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'scenetag.sqlite3'}"
