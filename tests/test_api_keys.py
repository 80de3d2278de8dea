"""API keys: made random, stored only as SHA-256, found by prefix and hash, revoked; and the
`scenetag-api-keys` command on a migrated SQLite database."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.migrate import alembic_config, upgrade_to_head
from storage.models import ApiKey
from storage.session import create_engine, create_sessionmaker
from web.api import keys
from web.api.keys import create_key, find_key, generate_key, hash_key, key_matches, key_prefix, revoke_key

ROOT = Path(__file__).resolve().parent.parent


def test_keys_are_long_random_and_marked() -> None:
    made = {generate_key() for _ in range(100)}
    assert len(made) == 100
    assert all(key.startswith("stk_") and len(key) == 4 + 43 for key in made)
    assert len({key_prefix(key) for key in made}) == 100


def test_a_key_is_stored_as_its_sha256() -> None:
    key = generate_key()
    assert hash_key(key) == hashlib.sha256(key.encode()).hexdigest()
    assert key_matches(hash_key(key), key)
    assert not key_matches(hash_key(key), key[:-1] + ("A" if key[-1] != "A" else "B"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "keys.sqlite3")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    await upgrade_to_head(engine)
    yield create_sessionmaker(engine)
    await engine.dispose()


async def test_created_keys_are_found_only_while_active_and_only_whole(sessions) -> None:
    async with sessions.begin() as session:
        row, key = await create_key(session, "shop integration", per_minute=5)
    async with sessions() as session:
        stored = (await session.scalars(select(ApiKey))).one()
        assert key not in (stored.prefix, stored.key_hash) and stored.key_hash == hash_key(key)
        assert (stored.name, stored.per_minute, stored.prefix) == ("shop integration", 5, key[:12])
        assert (await find_key(session, key)).id == row.id
        for wrong in (key[:-1], key + "x", key_prefix(key), "", "Bearer", generate_key()):
            assert await find_key(session, wrong) is None
    async with sessions.begin() as session:
        assert await revoke_key(session, key_prefix(key))
        assert not await revoke_key(session, key_prefix(key))  # revoked already
        assert not await revoke_key(session, "stk_nosuchkey")
    async with sessions() as session:
        assert await find_key(session, key) is None


def cli(database: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", sqlite_url(database))
        code = keys.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def sqlite_url(database: Path) -> str:
    return f"sqlite+aiosqlite:///{database}"


async def stored_limit(database: Path, key: str) -> int | None:
    engine = create_engine(sqlite_url(database))
    try:
        async with create_sessionmaker(engine)() as session:
            row = await find_key(session, key)
            assert row is not None
            return row.per_minute
    finally:
        await engine.dispose()


def test_the_command_creates_lists_and_revokes(tmp_path, capsys) -> None:
    database = tmp_path / "cli.sqlite3"
    command.upgrade(alembic_config(sqlite_url(database)), "head")
    code, out, _ = cli(database, "create", "partner A", "--per-minute", "30", capsys=capsys)
    key = out.splitlines()[-1]
    assert code == 0 and "shown once" in out and key.startswith("stk_")
    assert asyncio.run(stored_limit(database, key)) == 30
    cli(database, "create", "partner B", capsys=capsys)
    code, out, _ = cli(database, "list", capsys=capsys)
    lines = out.splitlines()
    assert code == 0 and len(lines) == 2 and key not in out
    assert lines[0].startswith(f"{key[:12]}  partner A  30/min") and lines[0].endswith("active")
    assert "partner B  default limit" in lines[1]
    assert cli(database, "revoke", key[:12], capsys=capsys)[:2] == (0, f"revoked {key[:12]}\n")
    code, _, err = cli(database, "revoke", key[:12], capsys=capsys)
    assert code == 1 and "no active key" in err
    assert "revoked" in cli(database, "list", capsys=capsys)[1].splitlines()[0]


def test_the_command_says_when_the_database_is_not_migrated(tmp_path, capsys) -> None:
    code, _, err = cli(tmp_path / "empty.sqlite3", "list", capsys=capsys)
    assert code == 1 and "alembic upgrade head" in err and "Traceback" not in err


def test_bad_arguments_are_refused_with_a_usage_line(tmp_path, capsys) -> None:
    for args in (["create", "x", "--per-minute", "0"], ["create", "n" * 65], ["rotate"]):
        with pytest.raises(SystemExit) as exited:
            cli(tmp_path / "unused.sqlite3", *args, capsys=capsys)
        assert exited.value.code == 2


def test_runs_as_a_module(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "web.api.keys", "list"],
        env={**os.environ, "DATABASE_URL": sqlite_url(tmp_path / "none.sqlite3")},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1 and "alembic upgrade head" in result.stderr
