"""Where a classified photo is answered, in whichever bot process reads its result: `AnswerLoop` reads the
results (one asyncio task per process) and `deliver` dispatches each to its reply, `bot.suggest` for a
private photo, `bot.moderate` for a group photo, with the photo's message rebuilt from its record.

The design (issue 12): the worker's RQ callbacks append each job's final outcome to the Redis Stream
`worker.contract.RESULTS_STREAM`; all bot processes read it in one consumer group (`XREADGROUP ... BLOCK`
on `redis.asyncio` through `bot.streams.StreamConsumer`, so a thousand photos in flight cost one
blocked read, no thread, no update slot). Each entry goes to one consumer, which claims the photo's
`PendingAnswer` (bot.pending), answers it, and acknowledges the entry (XACK). Entries a consumer took
and never acknowledged (it was killed) stay in the group's pending list; the other consumers take over
those idle longer than `claim_idle_s` with XAUTOCLAIM. A deadline sweep claims records whose deadline
passed and answers them with RQ's stored result if the job finished (its entry lost or unread) or
"took too long" (and cancels the job). The claim makes the stream, the sweep and every replica agree
on one answer per photo.

Why a stream rather than the alternatives: a pub/sub message to the enqueueing process dies with that
process; polling each job's result (what this bot did before) needs a waiting coroutine per photo in
the process that received it; RQ's own result stream per job is per job, not per consumer group. Redis
Streams give at-least-once delivery across processes, and the claim turns it into one answer.

The loop takes its `Deliver` as a callable (app.py binds `deliver` to the application; tests pass their
own), and app.py, not `bot.services`, holds the loop (`bot_data["loops"]`): what `deliver` calls imports
the services, so they cannot import this module.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from pydantic import ValidationError
from redis.asyncio import Redis
from sqlalchemy.exc import SQLAlchemyError
from telegram import Message
from telegram.error import TelegramError
from telegram.ext import Application

from bot import metrics
from bot.i18n import text
from bot.jobs import PhotoJobs
from bot.moderate import answer_group_photo
from bot.moderate_album import album_photo_answered
from bot.pending import ClaimState, PendingAnswer, PendingAnswers
from bot.services import SERVICES_KEY, Services
from bot.streams import CLAIM_IDLE_S, GROUP, Fields, StreamConsumer
from bot.suggest import answer_private_photo
from worker.contract import RESULTS_STREAM, ResultEntry
from worker.queue import Outcome, TimedOut, outcome_of

logger = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 1.0  # how often deadlines are checked ("took too long" is late by at most this)
SWEEP_BATCH = 100

Deliver = Callable[[PendingAnswer, Outcome], Awaitable[None]]


class AnswerLoop:
    """Reads results and deadlines and answers each photo once: `start()` in post_init, then `stop()`."""

    def __init__(
        self,
        redis: Redis,
        pending: PendingAnswers,
        jobs: PhotoJobs,
        deliver: Deliver,
        *,
        claim_idle_s: float = CLAIM_IDLE_S,
    ) -> None:
        self._pending, self._jobs, self._deliver = pending, jobs, deliver
        self._results = StreamConsumer(
            redis,
            RESULTS_STREAM,
            GROUP,
            self._answer_entry,
            claim_idle_s=claim_idle_s,
            tick=self._sweep,
            tick_s=SWEEP_INTERVAL_S,
        )
        self.consumer = self._results.consumer

    def start(self) -> None:
        self._results.start()

    async def stop(self) -> None:
        await self._results.stop()

    async def _answer_entry(self, entry_id: bytes, fields: Fields) -> bool:
        try:
            entry = ResultEntry.from_fields(fields)
        except ValidationError as error:  # names no job: no photo to answer
            logger.warning("%s: entry %s names no job: %s", RESULTS_STREAM, entry_id, error)
            return True
        claim = await self._pending.claim(entry.job_id, self.consumer)
        if claim.state is ClaimState.CLAIMED and claim.pending is not None:
            await self._answer(claim.pending, outcome_of(entry, time.time() - claim.pending.accepted_at))
        # GONE: answered already (the deadline passed first, or a duplicate entry): done. HELD: another
        # process holds the lease; if it dies before answering, this entry, taken over again once idle,
        # answers the photo after the lease expires instead of leaving it to its deadline.
        return claim.state is not ClaimState.HELD

    async def _sweep(self) -> None:
        now = time.time()
        for job_id in await self._pending.overdue(now, SWEEP_BATCH):
            claim = await self._pending.claim(job_id, self.consumer)
            if claim.state is ClaimState.GONE:
                await self._pending.forget(job_id)
            elif claim.state is ClaimState.CLAIMED and claim.pending is not None:
                outcome = await self._jobs.late_outcome(job_id, now - claim.pending.accepted_at)
                if isinstance(outcome, TimedOut):
                    await self._jobs.cancel(job_id)
                await self._answer(claim.pending, outcome)

    async def _answer(self, pending: PendingAnswer, outcome: Outcome) -> None:
        try:
            await self._deliver(pending, outcome)
        finally:
            # Also after a failed send (a user who blocked the bot): the answer was attempted once.
            await self._pending.finish(pending.job_id)


async def deliver(application: Application, pending: PendingAnswer, outcome: Outcome) -> None:  # type: ignore[type-arg]
    """Answer one photo; failures are logged (the answer is attempted once, never retried into a loop)."""
    svc: Services = application.bot_data[SERVICES_KEY]
    message = Message.de_json(pending.message, application.bot)
    try:
        if pending.kind == "private":
            await answer_private_photo(svc, message, pending, outcome)
        elif pending.album is not None:
            await album_photo_answered(svc, application.bot, pending, outcome)
        else:
            await answer_group_photo(svc, message, outcome, pending.picture_hash)
    except TelegramError as error:  # e.g. the user blocked the bot meanwhile
        logger.warning("could not answer photo %s in chat %s: %s", pending.job_id, message.chat_id, error)
    except SQLAlchemyError:  # never silent: logged with the traceback and counted
        logger.exception("database failed answering photo %s in chat %s", pending.job_id, message.chat_id)
        metrics.count_database_error(pending.kind)
        if pending.kind == "private":  # groups stay quiet
            await _tell_internal_error(svc, message)
    metrics.count_answered(pending.kind, outcome, time.time() - pending.accepted_at)


async def _tell_internal_error(svc: Services, message: Message) -> None:
    language = svc.message_language(message)
    try:
        await message.reply_text(text("error_internal", language))
    except TelegramError as error:
        logger.warning("could not tell the user about the error: %s", error)
