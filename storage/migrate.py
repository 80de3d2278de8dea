"""Apply Alembic migrations from inside the running bot, on a connection it already holds."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

ALEMBIC_INI = Path(__file__).resolve().parents[1] / "alembic.ini"
# Key of the PostgreSQL advisory lock that serialises migrations: replicas starting together on a fresh
# database would otherwise both create Alembic's version table, and one would fail.
MIGRATION_LOCK_KEY = 0x5CE7E7A6


def alembic_config(url: str | None = None) -> Config:
    """The repository's Alembic config; `url` overrides DATABASE_URL (tests)."""
    config = Config(str(ALEMBIC_INI))
    config.attributes["configure_logging"] = False  # keep the caller's logging
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _upgrade(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def upgrade_to_head(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":  # held until this transaction ends
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        await connection.run_sync(_upgrade)
