"""Where the database lives, read by the bot, the web service, `alembic` and the `ml` commands that read
feedback."""

from __future__ import annotations

from pathlib import Path

from config import EnvSettings

DEFAULT_DATA_DIR = Path("data")


class DatabaseSettings(EnvSettings):
    """Where the database lives; `alembic` reads only this, so migrating needs no BOT_TOKEN."""

    data_dir: Path = DEFAULT_DATA_DIR
    # Default: a SQLite file under DATA_DIR, so one machine needs no database server.
    database_url: str | None = None

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'scenetag.sqlite3'}"
