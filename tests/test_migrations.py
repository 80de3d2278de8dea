"""Alembic migrations: one head; upgrade to head and back to base on SQLite and PostgreSQL; the
models and the migrated schema agree (autogenerate finds nothing to do)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from bot.db.migrate import alembic_config
from bot.db.models import Base
from bot.db.session import create_engine

TABLES = {"chats", "suggestions", "flags", "alembic_version"}


def schema_diff(url: str) -> list:
    async def run() -> list:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(
                    lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
                )
        finally:
            await engine.dispose()

    return asyncio.run(run())


def table_names(url: str) -> set[str]:
    async def run() -> set[str]:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def check_round_trip(url: str) -> None:
    config = alembic_config(url)
    command.upgrade(config, "head")
    assert table_names(url) == TABLES
    assert schema_diff(url) == []
    command.downgrade(config, "base")
    assert table_names(url) == {"alembic_version"}
    command.upgrade(config, "head")  # and up again: downgrade left nothing behind
    assert table_names(url) == TABLES


def test_single_head():
    assert len(ScriptDirectory.from_config(alembic_config()).get_heads()) == 1


def test_migrations_use_only_op_and_sa():
    versions = ScriptDirectory.from_config(alembic_config())
    for revision in versions.walk_revisions():
        source = Path(revision.path).read_text(encoding="utf-8")
        assert "bot." not in source, revision.path


def test_sqlite_upgrade_downgrade_and_schema_matches_models(tmp_path):
    check_round_trip(f"sqlite+aiosqlite:///{tmp_path / 'migrate.sqlite3'}")


def test_postgresql_upgrade_downgrade_and_schema_matches_models(postgres_url):
    check_round_trip(postgres_url)
