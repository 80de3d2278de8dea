"""`python -m bot.health`: the bot container's health check (docker-compose.yml runs it inside the container).

Healthy when all three hold, each checked with the bot's own configuration:
- this container's bot process is alive and its event loop turns: the application's job queue rewrites a
  heartbeat file every HEARTBEAT_SECONDS once the application has started (after post_init, so after the
  migrations; the first beat comes one interval after the start, which compose's start_period covers);
- Redis answers PING at REDIS_URL (photos cannot be queued otherwise);
- the database answers `SELECT 1` at DATABASE_URL.
Why a heartbeat and not an HTTP probe: polling mode serves no HTTP at all, and in webhook mode PTB's server
only answers Telegram's POSTs at the secret path, so a reachable port would say nothing about a stuck event
loop. The file lives in the temp folder, which is the container's own (not the shared /data volume), so one
replica's heartbeat never vouches for another. Exit status 0 when healthy; otherwise 1, with one line per
failed check on stderr (docker shows it in `docker inspect`).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text
from telegram.ext import Application, ContextTypes

from bot.settings import BotSettings
from config.clients import async_redis_client
from storage.session import create_engine

HEARTBEAT_PATH = Path(tempfile.gettempdir()) / "scenetag-bot.heartbeat"
HEARTBEAT_SECONDS = 15.0
# Three missed beats: one slow beat under load is not an outage.
STALE_AFTER_SECONDS = 3 * HEARTBEAT_SECONDS
CHECK_TIMEOUT_SECONDS = 5.0


def schedule_heartbeat(application: Application, path: Path = HEARTBEAT_PATH) -> None:  # type: ignore[type-arg]
    """Beat from the application's own job queue: it only runs while the application runs."""
    application.job_queue.run_repeating(  # type: ignore[union-attr]
        _beat, interval=HEARTBEAT_SECONDS, data=path, name="heartbeat"
    )


async def _beat(context: ContextTypes.DEFAULT_TYPE) -> None:
    await asyncio.to_thread(context.job.data.touch)  # type: ignore[union-attr]


def heartbeat_problem(path: Path, now: float, stale_after: float = STALE_AFTER_SECONDS) -> str | None:
    """What is wrong with the heartbeat file at `path` at time `now` (epoch seconds), or None."""
    try:
        age = now - path.stat().st_mtime
    except FileNotFoundError:
        return f"heartbeat: no {path}; the bot has not finished starting, or is not running here"
    if age > stale_after:
        return f"heartbeat: {age:.0f} s old (limit {stale_after:.0f} s): the event loop is stuck or gone"
    return None


async def _ping_redis(url: str) -> None:
    client = async_redis_client(url, socket_timeout=CHECK_TIMEOUT_SECONDS)
    try:
        await client.ping()
    finally:
        await client.aclose()


async def _select_one(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    finally:
        await engine.dispose()


async def problems(settings: BotSettings, heartbeat: Path = HEARTBEAT_PATH) -> list[str]:
    """One line per failed check; empty when the bot is healthy."""
    found = [problem] if (problem := heartbeat_problem(heartbeat, time.time())) else []
    checks = {
        "redis": _ping_redis(settings.redis_url),
        "database": _select_one(settings.effective_database_url),
    }
    for name, check in checks.items():
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                await check
        except TimeoutError:
            found.append(f"{name}: no answer within {CHECK_TIMEOUT_SECONDS:.0f} s")
        except Exception as error:  # whatever the driver raises, the check failed: say what it said
            found.append(f"{name}: {type(error).__name__}: {error}")
    return found


def main() -> None:
    found = asyncio.run(problems(BotSettings.from_env(), HEARTBEAT_PATH))
    for line in found:
        print(line, file=sys.stderr)
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
