"""Where a photo is classified: put it on the worker's RQ queue and await the result without
blocking the event loop, keeping the user's chat action alive while waiting.

RQ is synchronous, so its calls run on a dedicated thread pool (each waiting photo blocks one
thread in Redis XREAD for at most `POLL_SECONDS`; the default pool has only cpu+4 threads). Every
way this can go wrong ends in a typed outcome the handler phrases for the user: Redis down or no
worker -> `Busy`; no answer in time -> `TimedOut` (the job is cancelled); the job failed -> `Failed`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from pydantic import ValidationError
from redis import Redis
from redis.exceptions import RedisError
from rq import Worker
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.results import Result

from worker.contract import QUEUE_NAME, ClassifyResult
from worker.queue import build_request, enqueue_photo, photo_queue

logger = logging.getLogger(__name__)

KEEP_ALIVE_SECONDS = 4.0  # Telegram shows a chat action for ~5 s
POLL_SECONDS = 1  # longest blocking Redis read; RQ takes whole seconds (the deadline may pass by this much)
RETRY_POLL_SECONDS = 0.1
MAX_WAITING_PHOTOS = 64  # threads for concurrent waits


@dataclass(frozen=True)
class Classified:
    result: ClassifyResult  # ok or a per-image error the user can act on
    latency_ms: float  # enqueue -> result in hand


@dataclass(frozen=True)
class Busy:
    reason: str  # for the log: "redis unavailable", "no worker"


@dataclass(frozen=True)
class TimedOut:
    waited_s: float


@dataclass(frozen=True)
class Failed:
    reason: str  # the job raised or was stopped; for the log only


Outcome = Classified | Busy | TimedOut | Failed

P = ParamSpec("P")
R = TypeVar("R")


class Classifier:
    """The bot's side of the job contract; one per application, closed in post_shutdown."""

    def __init__(self, redis_url: str, timeout_s: float) -> None:
        # socket_timeout above POLL_SECONDS so a blocking read is not cut short; a dead Redis
        # fails fast on connect instead of hanging the user.
        self._redis = Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=POLL_SECONDS + 4)
        self._queue = photo_queue(self._redis)
        self._timeout_s = timeout_s
        self._threads = ThreadPoolExecutor(MAX_WAITING_PHOTOS, thread_name_prefix="scenetag-rq")

    async def _call(self, function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        call = functools.partial(function, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._threads, call)

    def _enqueue(self, image: bytes, queue_ttl_s: int) -> Job | None:
        """None when no worker serves the queue (the photo would only wait to time out)."""
        # Worker.all, unlike Worker.count, drops registrations whose key expired (a worker killed with
        # SIGKILL never deregisters; its key lives worker_ttl + 60 s after its last heartbeat).
        if not Worker.all(queue=self._queue):
            return None
        return enqueue_photo(self._queue, build_request(image), queue_ttl=queue_ttl_s)

    async def classify(self, image: bytes, keep_alive: Callable[[], Awaitable[None]]) -> Outcome:
        """Classify `image`, calling `keep_alive` now and every few seconds until the outcome."""
        started = time.monotonic()
        deadline = started + self._timeout_s
        next_keep_alive = started
        try:
            job = await self._call(self._enqueue, image, math.ceil(self._timeout_s))
        except RedisError as error:
            logger.warning("classify: redis unavailable at enqueue: %s", error)
            return Busy("redis unavailable")
        if job is None:
            logger.warning("classify: no worker serves queue %r", QUEUE_NAME)
            return Busy("no worker")
        while True:
            now = time.monotonic()
            if now >= deadline:
                await self._cancel(job)
                return TimedOut(now - started)
            if now >= next_keep_alive:
                await keep_alive()
                next_keep_alive = now + KEEP_ALIVE_SECONDS
            try:
                result = await self._call(job.latest_result, POLL_SECONDS)
            except RedisError as error:
                logger.warning("classify: redis lost while waiting for %s: %s", job.id, error)
                return Busy("redis unavailable")
            outcome = _outcome(result, (time.monotonic() - started) * 1000)
            if outcome is not None:
                return outcome
            if result is not None:  # a retry is pending: XREAD would return this entry at once again
                await asyncio.sleep(RETRY_POLL_SECONDS)

    async def _cancel(self, job: Job) -> None:
        try:
            await self._call(job.cancel)
        except (InvalidJobOperation, NoSuchJobError):
            pass  # the queue TTL dropped it already
        except RedisError as error:
            logger.warning("classify: could not cancel %s: %s", job.id, error)

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
        self._redis.close()


def _outcome(result: Result | None, latency_ms: float) -> Outcome | None:
    """The outcome a job result means, or None to keep waiting (no result yet, or a retry pending)."""
    if result is None or result.type == Result.Type.RETRIED:
        return None
    if result.type != Result.Type.SUCCESSFUL:
        return Failed(f"{result.type.name}: {(result.exc_string or '').strip()[-300:]}")
    try:
        return Classified(ClassifyResult.model_validate(result.return_value), latency_ms)
    except ValidationError as error:
        return Failed(f"result violates the contract: {error}")
