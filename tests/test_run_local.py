"""`scripts/run-local.sh` (`make run`) as a new user runs it, then Ctrl-C.

Nothing answers on its REDIS_URL, so the script must start a redis-server there itself, migrate the
SQLite database under DATA_DIR and start the worker. Without BOT_TOKEN it runs the demo and keeps the
worker running; with a token (pointed at the fake Bot API) the real `scenetag-bot` answers a photo.
On SIGINT it must stop every process it started. Uses the test's own venv (SKIP_SETUP=1).
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from tests.fake_telegram import FakeTelegram

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "run-local.sh"
START_TIMEOUT_S = 240.0
REPLY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 90.0

pytestmark = pytest.mark.slow


@dataclass
class RunLocal:
    process: asyncio.subprocess.Process
    log: Path
    redis_port: int
    data_dir: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def wait_for_text(self, text: str) -> str:
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                while True:
                    output = self.output()
                    if text in output:
                        return output
                    if self.process.returncode is not None:
                        status = self.process.returncode
                        pytest.fail(f"run-local.sh exited ({status}) before {text!r}:\n{output}")
                    await asyncio.sleep(0.5)
        except TimeoutError:
            pytest.fail(f"no {text!r} within {START_TIMEOUT_S:.0f} s:\n{self.output()}")

    async def interrupt(self) -> int:
        """Ctrl-C; returns the script's exit status (awaited: the fake Bot API must keep serving)."""
        self.process.send_signal(signal.SIGINT)
        async with asyncio.timeout(STOP_TIMEOUT_S):
            return await self.process.wait()

    def stopped_pids(self) -> list[int]:
        return [int(pid) for pid in re.findall(r"==> stopping \S+ \(pid (\d+)\)", self.output())]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@asynccontextmanager
async def run_local(tmp_path: Path, **variables: str) -> AsyncIterator[RunLocal]:
    if (ROOT / ".env").exists():
        pytest.skip("a .env in the repository would change what run-local.sh does (it may hold BOT_TOKEN)")
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key != "BOT_TOKEN"}
    env |= {
        "SKIP_SETUP": "1",
        "VENV": sys.prefix,
        "REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "DATA_DIR": str(tmp_path / "data"),
        "TTA": "1",
        "TORCH_THREADS": "1",
        "METRICS_PORT": "0",  # tests run side by side: no fixed ports
        **variables,
    }
    log = tmp_path / "run-local.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            "bash", str(SCRIPT), env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield RunLocal(process, log, port, tmp_path / "data")
    finally:
        if process.returncode is None:
            # Let the script stop what it started; SIGKILL would orphan its redis-server and worker.
            process.send_signal(signal.SIGINT)
            try:
                async with asyncio.timeout(STOP_TIMEOUT_S):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()


def assert_everything_stopped(run: RunLocal, services: int) -> None:
    stopped = run.stopped_pids()
    assert len(stopped) == services, run.output()
    assert not any(alive(pid) for pid in stopped)
    assert not answers(run.redis_port)


def assert_started_services(run: RunLocal) -> None:
    assert answers(run.redis_port), "the script's own redis-server is not listening"
    assert (run.data_dir / "scenetag.sqlite3").is_file(), "migrations did not create the database"
    assert (run.data_dir / "redis" / "appendonlydir").is_dir(), "redis-server runs without AOF"


async def test_without_token_runs_the_demo_keeps_the_worker_and_stops_cleanly(tmp_path: Path) -> None:
    async with run_local(tmp_path) as run:
        output = await run.wait_for_text("BOT_TOKEN is not set")
        assert_started_services(run)
        for sample in sorted(p.name for p in (ROOT / "ml" / "samples").glob("*.jp*g")):
            # The queue demo's lines for each photo: classified (never gone/failed), then the bot's reply.
            shown = rf"(?m)^{re.escape(sample)} \(top \w+ \d+%.*; the bot replies:\n  \S"
            assert re.search(shown, output), output
        await asyncio.sleep(1)
        assert run.process.returncode is None, "run-local.sh must keep the worker running"
        assert await run.interrupt() == 130
    assert_everything_stopped(run, services=2)  # the worker, then redis-server


def jpeg(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (96, 96), colour).save(buffer, "JPEG")
    return buffer.getvalue()


async def test_with_token_the_bot_answers_a_photo_and_stops_cleanly(tmp_path: Path) -> None:
    async with FakeTelegram() as telegram:
        async with run_local(tmp_path, **telegram.env()) as run:
            await run.wait_for_text("==> bot started")
            assert_started_services(run)
            alice = telegram.new_user("Alice")
            sent = await telegram.send_private_photo(alice, jpeg((40, 110, 200)))
            reply = await telegram.wait_for_message(
                alice.id, after_message_id=sent["message_id"], timeout=REPLY_TIMEOUT_S
            )
            assert reply.get("text")
            assert "Job OK" in run.output(), "the reply did not come from a job the worker ran"
            assert await run.interrupt() == 130
        assert_everything_stopped(run, services=3)  # the bot, the worker, then redis-server
