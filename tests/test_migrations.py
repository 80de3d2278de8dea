"""Alembic migrations: one head; upgrade to head and back to base on SQLite and PostgreSQL; the
models and the migrated schema agree (autogenerate finds nothing to do)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from bot.db.migrate import alembic_config
from bot.db.models import Base
from bot.db.session import create_engine

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
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
    revisions = list(ScriptDirectory.from_config(alembic_config()).walk_revisions())
    assert revisions, "no migrations found: nothing was checked"
    for revision in revisions:
        source = Path(revision.path).read_text(encoding="utf-8")
        assert "bot." not in source, revision.path


def test_sqlite_upgrade_downgrade_and_schema_matches_models(tmp_path):
    check_round_trip(f"sqlite+aiosqlite:///{tmp_path / 'migrate.sqlite3'}")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh database on $TEST_POSTGRES_URL (or 127.0.0.1:5432), dropped afterwards."""
    import asyncpg

    admin_url = os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    plain = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"scenetag_test_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(plain, timeout=3)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        where = f"{make_url(admin_url).render_as_string()}: {error}"
        # `make test` sets TEST_POSTGRES_URL only once that server answered: then a failure here is a
        # failure (a refused login, a full disk), not a missing server to skip for.
        if "TEST_POSTGRES_URL" in os.environ:
            pytest.fail(f"TEST_POSTGRES_URL is set but PostgreSQL does not serve it at {where}")
        pytest.skip(f"no PostgreSQL answers at {where} (set TEST_POSTGRES_URL to run these tests)")
    try:
        yield (
            make_url(admin_url)
            .set(drivername="postgresql+asyncpg", database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_postgresql_upgrade_downgrade_and_schema_matches_models(postgres_url):
    check_round_trip(postgres_url)
