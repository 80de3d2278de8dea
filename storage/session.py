"""The async engine and session factory for the bot's database URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

# A SQLite file in write-ahead-log mode: readers (the dashboard, other handlers' SELECTs) never wait for a
# writer nor a writer for them, and a commit appends to the log without an fsync of its own (NORMAL: a
# power loss may undo the last commits, never corrupt the file). In the default rollback-journal mode each
# commit takes the whole file's lock for its fsyncs, and concurrent photos queue behind it in SQLite's
# sleeping busy handler (seconds with 20 photos in flight).
SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL")


def create_engine(url: str) -> AsyncEngine:
    """An engine for `url`; a SQLite file's folder is created so a fresh DATA_DIR works."""
    parsed = make_url(url)
    sqlite_file = parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
    if sqlite_file:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, pool_pre_ping=parsed.get_backend_name() != "sqlite")
    if sqlite_file:
        event.listen(engine.sync_engine, "connect", _set_sqlite_pragmas)
    return engine


def _set_sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: handlers read returned rows after the session closes.
    return async_sessionmaker(engine, expire_on_commit=False)
