"""`python -m bot.health`, the bot container's health check: heartbeat, Redis, database."""

from __future__ import annotations

import asyncio
import os
import time

import pytest
from telegram.ext import ApplicationBuilder

from bot import health
from bot.app import build_application
from bot.settings import BotSettings
from tests.services import free_port

TOKEN = "123456:ABC-def_ghi"


def settings(tmp_path, redis_url: str, database_url: str | None = None) -> BotSettings:
    return BotSettings(bot_token=TOKEN, redis_url=redis_url, data_dir=tmp_path, database_url=database_url)


def test_heartbeat_missing_fresh_and_stale(tmp_path):
    beat = tmp_path / "beat"
    assert "has not finished starting" in health.heartbeat_problem(beat, time.time())
    beat.touch()
    assert health.heartbeat_problem(beat, time.time()) is None
    old = time.time() - health.STALE_AFTER_SECONDS - 5
    os.utime(beat, (old, old))
    assert "stuck or gone" in health.heartbeat_problem(beat, time.time())


def test_the_bot_schedules_its_heartbeat(tmp_path):
    application = build_application(settings(tmp_path, "redis://127.0.0.1:1/0"))
    (job,) = application.job_queue.jobs()
    assert (job.name, job.data) == ("heartbeat", health.HEARTBEAT_PATH)
    assert job.trigger.interval.total_seconds() == health.HEARTBEAT_SECONDS


async def test_a_running_job_queue_writes_the_heartbeat(tmp_path, monkeypatch):
    monkeypatch.setattr(health, "HEARTBEAT_SECONDS", 0.1)
    application = ApplicationBuilder().token(TOKEN).build()
    beat = tmp_path / "beat"
    health.schedule_heartbeat(application, beat)
    await application.job_queue.start()
    try:
        await asyncio.sleep(0.5)
    finally:
        await application.job_queue.stop()
    assert health.heartbeat_problem(beat, time.time(), stale_after=0.5) is None


async def test_healthy_with_redis_database_and_a_fresh_heartbeat(tmp_path, redis_url):
    beat = tmp_path / "beat"
    beat.touch()
    assert await health.problems(settings(tmp_path, redis_url), beat) == []


async def test_each_failed_check_is_one_line(tmp_path):
    closed = free_port()
    broken = settings(
        tmp_path, f"redis://127.0.0.1:{closed}/0", f"postgresql+asyncpg://u:p@127.0.0.1:{closed}/db"
    )
    found = await health.problems(broken, tmp_path / "no-beat")
    assert [line.split(":")[0] for line in found] == ["heartbeat", "redis", "database"]
    assert all("\n" not in line for line in found)


def test_main_exits_1_and_says_why(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no developer .env
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setattr(health, "HEARTBEAT_PATH", tmp_path / "no-beat")
    with pytest.raises(SystemExit) as exit_info:
        health.main()
    assert exit_info.value.code == 1
    # SQLite under DATA_DIR answers; the heartbeat and Redis do not.
    assert [line.split(":")[0] for line in capsys.readouterr().err.splitlines()] == ["heartbeat", "redis"]
