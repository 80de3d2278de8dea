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
from sqlalchemy import inspect, text
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


def execute(url: str, *statements: str) -> list[tuple]:
    """Runs the statements in one transaction; the rows of the last one."""

    async def run() -> list[tuple]:
        engine = create_engine(url)
        try:
            async with engine.begin() as connection:
                for statement in statements:
                    result = await connection.execute(text(statement))
                return [tuple(row) for row in result] if result.returns_rows else []
        finally:
            await engine.dispose()

    return asyncio.run(run())


# The old per-chat confidence threshold (0.3-0.95 in /settings' 0.05 steps) -> the sensitivity word.
OLD_THRESHOLDS = {0.3: "strict", 0.5: "strict", 0.55: "balanced", 0.6: "balanced", 0.65: "balanced",
                  0.7: "lenient", 0.95: "lenient"}


def check_sensitivity_migration(url: str) -> None:
    """Chats stored with a threshold under 0001 get the matching word in 0002, and back on downgrade."""
    config = alembic_config(url)
    command.upgrade(config, "0001")
    execute(url, *(
        "INSERT INTO chats (id, type, photos_seen, moderation_enabled, moderation_mode, moderation_threshold,"
        f" moderation_min_hashtags) VALUES ({chat_id}, 'group', 0, true, 'flag', {threshold}, 2)"
        for chat_id, threshold in enumerate(OLD_THRESHOLDS, start=1)
    ))
    command.upgrade(config, "0002")
    migrated = dict(execute(url, "SELECT id, moderation_sensitivity FROM chats ORDER BY id"))
    assert migrated == dict(enumerate(OLD_THRESHOLDS.values(), start=1))
    command.downgrade(config, "0001")
    restored = dict(execute(url, "SELECT id, moderation_threshold FROM chats ORDER BY id"))
    assert restored == dict(enumerate([0.5, 0.5, 0.6, 0.6, 0.6, 0.7, 0.7], start=1))


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


def test_sqlite_chats_keep_their_moderation_intent_as_a_sensitivity_word(tmp_path):
    check_sensitivity_migration(f"sqlite+aiosqlite:///{tmp_path / 'sensitivity.sqlite3'}")


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


def test_postgresql_chats_keep_their_moderation_intent_as_a_sensitivity_word(postgres_url):
    check_sensitivity_migration(postgres_url)
