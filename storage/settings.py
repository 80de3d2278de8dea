"""Where the database lives: read by the bot, by `alembic`, and by the `ml` commands that read feedback."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("data")


class DatabaseSettings(BaseSettings):
    """Where the database lives; `alembic` reads only this, so migrating needs no BOT_TOKEN."""

    # Same sources as ServiceSettings (an empty variable means the default); BotSettings merges both configs.
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    data_dir: Path = DEFAULT_DATA_DIR
    # Default: a SQLite file under DATA_DIR, so one machine needs no database server.
    database_url: str | None = None

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'scenetag.sqlite3'}"
