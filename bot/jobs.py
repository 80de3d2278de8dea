"""Hands a photo to the worker as a job (`PhotoJobs`), and says how the hand-over went (`Submitted`).

`PhotoJobs.submit` records the photo as a `PendingAnswer` (bot.pending) and then puts its job on the
worker's RQ queue through the job client (`worker.queue`); the handler returns at once. Nothing waits for
the result here: the worker's RQ callbacks publish it on a Redis Stream that `bot.answers` reads. RQ's
client is synchronous, so its calls (the worker check, the enqueue, a cancel, a lookup) run on asyncio's
default thread pool; each lasts a Redis round trip or two, and no thread is ever held while a photo waits.

`submit` takes the photo's `PendingAnswer` (built by `pending_answer`) and returns `Accepted`, `Duplicate`
(a redelivered update) or `Busy` (Redis or the worker is not there); what comes back later is one of
`worker.queue`'s outcomes (`Classified`, `TimedOut`, `Failed`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from redis.exceptions import RedisError
from rq import Queue
from rq.job import Job
from telegram import Document, Message, PhotoSize

from bot.pending import ClaimState, PendingAnswer, PendingAnswers, PhotoKind
from config.clients import redis_client
from worker.queue import (
    NoLiveWorker,
    Outcome,
    cancel,
    fetch_record,
    new_job_id,
    outcome_of,
    photo_queue,
    require_worker,
    submit,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Busy:
    reason: str  # for the log: "redis unavailable", "no worker"


@dataclass(frozen=True)
class Accepted:
    job_id: str  # recorded and queued: the answer comes through bot.answers


@dataclass(frozen=True)
class Duplicate:
    """Telegram delivered this update again; it was accepted the first time."""


Submitted = Accepted | Duplicate | Busy


def pending_answer(
    update_id: int,
    message: Message,
    attachment: PhotoSize | Document,
    kind: PhotoKind,
    timeout_s: float,
    *,
    picture_hash: str | None = None,
    album: str | None = None,
) -> PendingAnswer:
    """What any bot process needs to answer this photo later (bot.pending), under a new job id; the user
    is told it took too long `timeout_s` after now. `album`: the key of the album it is judged with."""
    now = time.time()
    return PendingAnswer(
        job_id=new_job_id(),
        update_id=update_id,
        kind=kind,
        message=message.to_dict(),
        file_unique_id=attachment.file_unique_id,
        picture_hash=picture_hash,
        album=album,
        accepted_at=now,
        deadline=now + timeout_s,
    )


class PhotoJobs:
    """The bot's side of the job contract; one per application, closed in post_shutdown."""

    def __init__(self, redis_url: str, pending: PendingAnswers) -> None:
        self._redis = redis_client(redis_url)
        self._queue = photo_queue(self._redis)
        self._pending = pending

    @property
    def queue(self) -> Queue:
        """The worker's RQ queue, on this instance's (thread-safe) client."""
        return self._queue

    async def submit(self, image: bytes, pending: PendingAnswer) -> Submitted:
        """Record `pending`, then queue `image` as its job (`pending.job_id`)."""
        queue_ttl = max(1, round(pending.deadline - pending.accepted_at))
        try:
            await asyncio.to_thread(require_worker, self._queue)
            # Recorded before it is queued, so a result can never arrive for a photo nobody recorded.
            if not await self._pending.record(pending):
                await self._requeue_if_lost(image, pending.update_id, queue_ttl)
                return Duplicate()
        except NoLiveWorker as error:
            logger.warning("classify: %s", error)
            return Busy("no worker")
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
        await asyncio.to_thread(submit, self._queue, image, job_id, queue_ttl=queue_ttl)

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

    async def late_outcome(self, job_id: str, waited_s: float) -> Outcome:
        """The answer once the deadline passed, from RQ's own record of the job (`outcome_of`)."""
        return outcome_of(await asyncio.to_thread(fetch_record, self._queue, job_id), waited_s)

    async def cancel(self, job_id: str) -> None:
        """Drop a job nobody waits for any more, so a worker that frees up later skips it."""
        await asyncio.to_thread(cancel, self._queue, job_id)

    def close(self) -> None:
        self._redis.close()
