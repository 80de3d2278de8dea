"""Alembic migrations: one head; upgrade to head and back to base on SQLite and PostgreSQL; the
models and the migrated schema agree (autogenerate finds nothing to do)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from storage.migrate import alembic_config
from storage.models import Base
from storage.session import create_engine

TABLES = {
    "chats", "chat_days", "members", "suggestions", "flags", "spam_pictures", "api_keys", "alembic_version"
}


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


def test_postgresql_upgrade_downgrade_and_schema_matches_models(postgres_url):
    check_round_trip(postgres_url)


def test_postgresql_chats_keep_their_moderation_intent_as_a_sensitivity_word(postgres_url):
    check_sensitivity_migration(postgres_url)


def check_existing_chats_keep_photo_ids(url: str) -> None:
    """Chats from before 0005 keep photo ids (the documented default) until they opt out."""
    config = alembic_config(url)
    command.upgrade(config, "0004")
    execute(url, "INSERT INTO chats (id, type, photos_seen, moderation_enabled, moderation_mode,"
                 " moderation_sensitivity, moderation_min_hashtags) VALUES (1, 'private', 0, false, 'flag',"
                 " 'balanced', 2)")
    command.upgrade(config, "0005")
    assert execute(url, "SELECT keep_photo_ids FROM chats") == [(True,)]
    command.downgrade(config, "0004")
    assert execute(url, "SELECT id FROM chats") == [(1,)]


def test_sqlite_existing_chats_keep_photo_ids(tmp_path):
    check_existing_chats_keep_photo_ids(f"sqlite+aiosqlite:///{tmp_path / 'keep.sqlite3'}")


def test_postgresql_existing_chats_keep_photo_ids(postgres_url):
    check_existing_chats_keep_photo_ids(postgres_url)
