"""Where a photo is handed to the worker, and what its outcome means for the user.

`Classifier.submit` records the photo as a `PendingAnswer` (bot.pending) and then puts its job on the
worker's RQ queue; the handler returns at once. Nothing waits for the result here: the worker's RQ
callbacks publish it on a Redis Stream that `bot.answers` reads. RQ's client is synchronous, so its
calls (the worker check, the enqueue, a cancel, a lookup) run on asyncio's default thread pool; each
lasts a Redis round trip or two, and no thread is ever held while a photo waits.

The pure functions turn what comes back (a stream entry, or RQ's stored outcome once the deadline
passed) into the typed outcomes the answer phrases: `Classified`, `Failed`, `TimedOut`. `submit` itself
returns `Accepted`, `Duplicate` (a redelivered update) or `Busy` (Redis or the worker is not there).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import ValidationError
from redis import Redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry
from rq import Queue
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job

from bot.pending import ClaimState, PendingAnswer, PendingAnswers
from worker.contract import QUEUE_NAME, ClassifyResult
from worker.queue import Outcome as JobOutcome
from worker.queue import OutcomeState, build_request, enqueue_photo, fetch_outcome, live_workers, photo_queue

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Classified:
    result: ClassifyResult  # ok or a per-image error the user can act on
    latency_ms: float  # accepted -> result in hand


@dataclass(frozen=True)
class Busy:
    reason: str  # for the log: "redis unavailable", "no worker"


@dataclass(frozen=True)
class TimedOut:
    waited_s: float


@dataclass(frozen=True)
class Failed:
    reason: str  # the job raised or was stopped; for the log only


Outcome = Classified | TimedOut | Failed


@dataclass(frozen=True)
class Accepted:
    job_id: str  # recorded and queued: the answer comes through bot.answers


@dataclass(frozen=True)
class Duplicate:
    """Telegram delivered this update again; it was accepted the first time."""


Submitted = Accepted | Duplicate | Busy


class Classifier:
    """The bot's side of the job contract; one per application, closed in post_shutdown."""

    def __init__(self, redis_url: str, pending: PendingAnswers) -> None:
        # A dead Redis fails fast on connect instead of hanging the user; a connection a Redis restart
        # closed is retried on a fresh one.
        self._redis = Redis.from_url(
            redis_url,
            socket_connect_timeout=2,
            socket_timeout=5,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
        )
        self._queue = photo_queue(self._redis)
        self._pending = pending

    @property
    def queue(self) -> Queue:
        """The worker's RQ queue, on this classifier's (thread-safe) client."""
        return self._queue

    async def submit(self, image: bytes, pending: PendingAnswer) -> Submitted:
        """Record `pending`, then queue `image` as its job (`pending.job_id`)."""
        queue_ttl = max(1, round(pending.deadline - pending.accepted_at))
        try:
            if not await asyncio.to_thread(live_workers, self._queue):
                logger.warning("classify: no worker serves queue %r", QUEUE_NAME)
                return Busy("no worker")
            # Recorded before it is queued, so a result can never arrive for a photo nobody recorded.
            if not await self._pending.record(pending):
                await self._requeue_if_lost(image, pending.update_id, queue_ttl)
                return Duplicate()
        except RedisError as error:
            logger.warning("classify: redis unavailable at submit: %s", error)
            return Busy("redis unavailable")
        try:
            await self._enqueue(image, pending.job_id, queue_ttl)
        except RedisError as error:
            logger.warning("classify: could not queue %s: %s", pending.job_id, error)
            await self._withdraw(pending.job_id)
            return Busy("redis unavailable")
        return Accepted(pending.job_id)

    async def _enqueue(self, image: bytes, job_id: str, queue_ttl: int) -> None:
        request = build_request(image, request_id=job_id)
        await asyncio.to_thread(enqueue_photo, self._queue, request, queue_ttl=queue_ttl, job_id=job_id)

    async def _requeue_if_lost(self, image: bytes, update_id: int, queue_ttl: int) -> None:
        """A redelivered update whose first handler died between recording and queueing the job: queue
        it now under the recorded job id, rather than leave the photo to its deadline."""
        job_id = await self._pending.recorded_job(update_id)
        if job_id is not None and not await asyncio.to_thread(Job.exists, job_id, self._redis):
            logger.info("classify: update %s was recorded but never queued; queueing it", update_id)
            await self._enqueue(image, job_id, queue_ttl)

    async def _withdraw(self, job_id: str) -> None:
        """Take back a record whose job could not be queued: the caller answers "busy" now."""
        try:
            claim = await self._pending.claim(job_id, "submit")
            if claim.state is ClaimState.CLAIMED:
                await self._pending.finish(job_id)
        except RedisError as error:  # Redis went away in between: the sweep answers it at its deadline
            logger.warning("classify: could not withdraw %s: %s", job_id, error)

    async def stored_outcome(self, job_id: str) -> JobOutcome:
        """RQ's own record of the job (the deadline sweep asks before saying "took too long")."""
        return await asyncio.to_thread(fetch_outcome, self._queue, job_id)

    async def cancel(self, job_id: str) -> None:
        """Drop a job nobody waits for any more, so a worker that frees up later skips it."""
        try:
            job = await asyncio.to_thread(Job.fetch, job_id, self._redis, self._queue.serializer)
            await asyncio.to_thread(job.cancel)
        except (InvalidJobOperation, NoSuchJobError):
            pass  # finished meanwhile, or the queue TTL dropped it already
        except RedisError as error:
            logger.warning("classify: could not cancel %s: %s", job_id, error)

    def close(self) -> None:
        self._redis.close()


def new_job_id() -> str:
    return uuid.uuid4().hex


def entry_outcome(fields: Mapping[bytes, bytes], latency_ms: float) -> Outcome:
    """What a results-stream entry (`worker.results`) means for the user."""
    status = fields.get(b"status", b"").decode()
    if status == "finished":
        try:
            result = ClassifyResult.model_validate(json.loads(fields.get(b"result", b"null")))
        except (ValidationError, ValueError) as error:
            return Failed(f"result violates the contract: {error}")
        return Classified(result, latency_ms)
    return Failed(fields.get(b"reason", b"").decode() or f"unknown status {status!r}")


def late_outcome(stored: JobOutcome, waited_s: float) -> Outcome:
    """The answer once the deadline passed: RQ's result when it has one (its stream entry was lost or
    is still unread), otherwise "took too long"."""
    if stored.state is OutcomeState.DONE and stored.result is not None:
        return Classified(stored.result, waited_s * 1000)
    if stored.state is OutcomeState.FAILED:
        return Failed(stored.reason or "failed")
    return TimedOut(waited_s)
