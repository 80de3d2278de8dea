"""Real services for end-to-end tests: a private `redis-server` and real `scenetag-worker` processes.

Registered for every test module by `tests/conftest.py`. Fixtures:

- `redis_server` (session): a private `redis-server` on a free port in a temp dir, never the
  machine's own Redis. `redis_server.stop()` / `.start()` take it down and bring it back on the
  same port mid-test ("Redis went away"); the next test finds it running again.
- `redis_url` (function): a URL on a fresh, empty database of that server, so tests never see each
  other's queues or workers; `redis_conn` is a client for it.
- `worker_factory` (function): `worker_factory(redis_url, tta=1, **env)` starts the real worker
  (`python -m worker`) as a subprocess with MODEL_PATH (default: the shipped model) and waits until
  it has loaded the model and registered with RQ. Every worker is stopped at teardown (SIGTERM,
  then SIGKILL) and its log is printed, which pytest shows when the test failed.
- `running_worker` (function): one worker on `redis_url`, TTA 1, ready.
- `module_redis_url`, `module_worker` (module): the same, shared by all tests of one module, which
  saves a model load (several seconds on 2 busy cores) per test.
- `postgres_url` (function): a fresh database on $TEST_POSTGRES_URL (or 127.0.0.1:5432), dropped
  afterwards; skips when no PostgreSQL answers.
- `scrape_metrics(port)`: a process's Prometheus metrics, parsed.
- `launch_bot(...)`: the real bot (`python -m bot`) as a subprocess, e.g. against `tests.fake_telegram`,
  which a test can SIGKILL (`BotProcess.kill`) as an OOM kill or a lost machine would.

Tests skip with a clear reason when `redis-server` is not installed; a missing model file fails them (the
repository ships one: `served_model_path`).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.serializers import JSONSerializer
from sqlalchemy.engine import make_url

from worker.queue import photo_queue
from worker.settings import DEFAULT_MODEL_PATH

REDIS_BINARY = os.environ.get("TEST_REDIS_SERVER", "/usr/bin/redis-server")
DATABASES = 1024  # one fresh database per test, no flushing between them
WORKER_START_TIMEOUT_S = 120.0  # importing torch and loading the model on a busy 2-core box
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def wait_for(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.05) -> object:
    """Poll `condition` until it returns something truthy, or fail the test naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def end_process(process: subprocess.Popen[bytes], timeout: float) -> int:
    """SIGTERM and wait, SIGKILL if it hangs; the exit status."""
    process.terminate()
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


Sample = tuple[str, tuple[tuple[str, str], ...]]  # (series name, its labels sorted by name)


def scrape_metrics(port: int) -> dict[Sample, float]:
    """A process's /metrics on 127.0.0.1:`port`, parsed: (series name, sorted labels) -> value."""
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    response.raise_for_status()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


@dataclass
class RedisServer:
    """A private redis-server process that a test can stop and start again on the same port."""

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.directory / "redis.log"

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        if self.running:
            return
        command = [
            REDIS_BINARY,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
        ]
        command += ["--save", "", "--appendonly", "no", "--databases", str(DATABASES)]
        command += ["--logfile", str(self.log_path)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        client = Redis(port=self.port, socket_connect_timeout=1)
        try:
            wait_for(lambda: self._answers(client), 10, f"redis-server on port {self.port}")
        finally:
            client.close()

    def stop(self) -> None:
        """Shut it down now (connections drop, as when Redis dies)."""
        if self.process is not None:
            end_process(self.process, 10)
            self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _answers(self, client: Redis) -> bool:
        if self.process is not None and self.process.poll() is not None:
            log = self.log_path.read_text() if self.log_path.exists() else ""
            pytest.fail(f"redis-server exited with {self.process.returncode}:\n{log[-2000:]}")
        try:
            return bool(client.ping())
        except RedisError:
            return False


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if not Path(REDIS_BINARY).is_file() and not shutil.which(REDIS_BINARY):
        pytest.skip(f"redis-server not installed at {REDIS_BINARY} (apt-get install redis-server)")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


_databases = count(1)


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A URL on a fresh database of the private server (started again if a test stopped it)."""
    redis_server.start()
    db = next(_databases)
    if db >= DATABASES:
        pytest.fail(f"more than {DATABASES - 1} tests used Redis in one session; raise DATABASES")
    return redis_server.url(db)


@pytest.fixture
def redis_conn(redis_url: str) -> Iterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def queue(redis_conn: Redis) -> Queue:
    """The photo queue on this test's Redis database."""
    return photo_queue(redis_conn)


@pytest.fixture
def idle_worker(redis_conn: Redis) -> Iterator[Worker]:
    """A worker registered on the queue that takes no jobs (a stuck or busy worker): the bot then
    enqueues instead of answering "busy"."""
    worker = Worker([photo_queue(redis_conn)], connection=redis_conn, serializer=JSONSerializer)
    worker.register_birth()
    yield worker
    worker.register_death()


@dataclass
class WorkerProcess:
    """A running `scenetag-worker` subprocess and where its output goes."""

    process: subprocess.Popen[bytes]
    log_path: Path
    redis_url: str
    name: str  # its RQ worker name

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def registered(self) -> bool:
        if self.process.poll() is not None:
            pytest.fail(
                f"worker exited with {self.process.returncode} before it was ready:\n{self.log()[-4000:]}"
            )
        # By name: a killed worker's registration lingers in Redis for minutes.
        with Redis.from_url(self.redis_url) as connection:
            return any(
                w.name == self.name for w in Worker.all(connection=connection, queue=photo_queue(connection))
            )

    def wait_ready(self, timeout: float = WORKER_START_TIMEOUT_S) -> None:
        wait_for(self.registered, timeout, f"worker {self.name} to load its model and register")

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM (RQ's warm shutdown: the job in hand finishes) and wait; SIGKILL if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.wait()

    def kill(self) -> None:
        """SIGKILL: the worker dies mid-whatever, as on an OOM kill or a lost machine."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


StartWorker = Callable[..., WorkerProcess]


def served_model_path(path: Path | None = None) -> Path:
    """The model a test worker serves: `path`, $TEST_MODEL_PATH, or the shipped one. A missing file fails the
    test: the repository ships the default, so its absence is a defect, not a reason to skip."""
    chosen = path or Path(os.environ.get("TEST_MODEL_PATH", DEFAULT_MODEL_PATH))
    assert chosen.is_file(), f"no model file at {chosen} (the shipped one, or TEST_MODEL_PATH's)"
    return chosen


def launch_worker(
    redis_url: str, log_dir: Path, *, tta: int = 1, model_path: Path | None = None, **env: str
) -> WorkerProcess:
    """Start `python -m worker` against `redis_url` (not waiting); keyword arguments become env variables."""
    environment = {
        **os.environ,
        "REDIS_URL": redis_url,
        "MODEL_PATH": str(served_model_path(model_path)),
        "TTA": str(tta),
        "DEVICE": "cpu",
        "TORCH_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        "METRICS_PORT": "0",  # tests run side by side: one that scrapes passes a free port
        **env,
    }
    name = f"test-worker-{uuid.uuid4().hex[:8]}"
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        # cwd: a temp dir, so a developer's .env in the repository does not leak into tests.
        command = [sys.executable, "-m", "worker", "--name", name]
        process = subprocess.Popen(command, env=environment, cwd=log_dir, stdout=log, stderr=log)
    return WorkerProcess(process, log_path, redis_url, name)


def stop_and_show(worker: WorkerProcess) -> None:
    """Warm-stop a test worker and print its log (pytest shows it when the test failed)."""
    worker.terminate(timeout=30)
    print(f"----- {worker.name} log (exit {worker.process.returncode}) -----")
    print(worker.log()[-8000:])


@pytest.fixture
def worker_factory(tmp_path: Path) -> Iterator[StartWorker]:
    """`worker_factory(redis_url, tta=1, model_path=None, wait=True, **env)` -> a started worker."""
    started: list[WorkerProcess] = []

    def start(redis_url: str, *, wait: bool = True, **kwargs: Any) -> WorkerProcess:
        worker = launch_worker(redis_url, tmp_path, **kwargs)
        started.append(worker)
        if wait:
            worker.wait_ready()
        return worker

    yield start
    for worker in started:
        stop_and_show(worker)


@pytest.fixture
def running_worker(redis_url: str, worker_factory: StartWorker) -> WorkerProcess:
    """A ready worker on `redis_url` with the shipped model and TTA 1."""
    return worker_factory(redis_url)


@pytest.fixture(scope="module")
def module_redis_url(redis_server: RedisServer) -> str:
    """Like `redis_url`, but one fresh database shared by a whole test module (with `module_worker`)."""
    redis_server.start()
    return redis_server.url(next(_databases))


@pytest.fixture(scope="module")
def module_worker(module_redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    """One ready worker (shipped model, TTA 1) for a whole module: saves a model load per test.
    Tests using it must leave it running and not depend on the queue being empty."""
    worker = launch_worker(module_redis_url, tmp_path_factory.mktemp("worker"))
    try:
        worker.wait_ready()
        yield worker
    finally:
        stop_and_show(worker)


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


@dataclass
class BotProcess:
    """A running `scenetag-bot` subprocess and where its output goes."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown, nothing flushed or confirmed, as on an OOM kill or a lost machine."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def stop(self, timeout: float = 30) -> int:
        """SIGINT (what Ctrl-C and PTB's run_* stop on), then SIGKILL if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.wait()


def launch_bot(telegram_env: dict[str, str], redis_url: str, directory: Path, **env: str) -> BotProcess:
    """Start `python -m bot` (not waiting) with the fake Bot API's variables (`FakeTelegram.env()`);
    keyword arguments become env variables (e.g. WEBHOOK_URL, DATABASE_URL)."""
    environment = {
        **os.environ,
        **telegram_env,
        "REDIS_URL": redis_url,
        "DATA_DIR": str(directory),
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        "METRICS_PORT": "0",  # tests run side by side: one that scrapes passes a free port
        **env,
    }
    log_path = directory / f"bot-{uuid.uuid4().hex[:8]}.log"
    with log_path.open("wb") as log:
        # cwd: a temp dir, so a developer's .env in the repository does not leak into tests.
        command = [sys.executable, "-m", "bot"]
        process = subprocess.Popen(command, env=environment, cwd=directory, stdout=log, stderr=log)
    return BotProcess(process, log_path)
