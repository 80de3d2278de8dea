"""A photo through the worker: the bot's queue, contract and job (`worker.queue`), waited for here.

RQ's client is synchronous, so each Redis call runs in Starlette's thread pool and lasts a round trip
or two. The wait itself holds no thread: between looks at the job (`fetch_outcome`) the request sleeps
on the event loop, 25 ms at first, then half as long again each time, up to 250 ms: a photo classified
in 200 ms is seen within a few ms, and a hundred requests waiting on a slow worker cost a few hundred cheap
Redis reads a second rather than a hundred threads held (RQ's own blocking wait would hold one each and
starve the pool). A request that gives up drops its job (cancel, and a queue TTL equal to its timeout), so
the worker never spends time on an answer nobody waits for.

The worker's RQ callbacks also append every outcome to the bot's results stream; bot processes find no
waiting photo under an API job's id and acknowledge the entry without answering anyone.
"""

from __future__ import annotations

import logging
import math
import time

import anyio
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from starlette.concurrency import run_in_threadpool

from web.api.errors import TIMEOUT_MESSAGE, ApiError, ApiErrorCode, busy, image_error
from worker.contract import ClassifyResult
from worker.queue import (
    Outcome,
    OutcomeState,
    build_request,
    enqueue_photo,
    fetch_outcome,
    live_workers,
    photo_queue,
)

logger = logging.getLogger(__name__)

FIRST_POLL_S = 0.025
POLL_GROWTH = 1.5
MAX_POLL_S = 0.25


async def classify(redis: Redis, image: bytes, timeout_s: float) -> ClassifyResult:
    """The worker's `ClassifyResult` for `image` (classified, or a per-image error result). Raises
    `ApiError`: busy (no worker, Redis down), timeout, or internal (the job failed)."""
    queue = photo_queue(redis)
    try:
        if not await run_in_threadpool(live_workers, queue):
            logger.warning("api: no worker serves queue %r", queue.name)
            raise busy()
        request = build_request(image)
        await run_in_threadpool(
            enqueue_photo, queue, request, queue_ttl=math.ceil(timeout_s), job_id=request.request_id
        )
        outcome = await wait_for_outcome(queue, request.request_id, timeout_s)
    except RedisError as error:
        logger.warning("api: redis unavailable: %s", error)
        raise busy() from error
    if outcome.state is OutcomeState.PENDING:
        await cancel(queue, request.request_id)
    return result_of(outcome, request.request_id)


async def wait_for_outcome(queue: Queue, job_id: str, timeout_s: float) -> Outcome:
    """The job's outcome once it is no longer pending, or its pending state when `timeout_s` ran out."""
    deadline = time.monotonic() + timeout_s
    delay = FIRST_POLL_S
    while True:
        outcome = await run_in_threadpool(fetch_outcome, queue, job_id)
        left = deadline - time.monotonic()
        if outcome.state is not OutcomeState.PENDING or left <= 0:
            return outcome
        await anyio.sleep(min(delay, left))
        delay = min(delay * POLL_GROWTH, MAX_POLL_S)


def result_of(outcome: Outcome, job_id: str) -> ClassifyResult:
    """What a job's final state means for the API client."""
    if outcome.state is OutcomeState.DONE and outcome.result is not None:
        return outcome.result
    if outcome.state is OutcomeState.FAILED:
        logger.error("api: job %s failed: %s", job_id, outcome.reason)
        raise image_error(None)
    # Still pending at the deadline, or gone: the queue TTL dropped it before a worker took it.
    logger.warning("api: job %s %s at its deadline", job_id, outcome.state.value)
    raise ApiError(504, ApiErrorCode.TIMEOUT, TIMEOUT_MESSAGE)


async def cancel(queue: Queue, job_id: str) -> None:
    """Drop a job nobody waits for any more, so a worker that frees up later skips it."""
    try:
        job = await run_in_threadpool(Job.fetch, job_id, queue.connection, queue.serializer)
        await run_in_threadpool(job.cancel)
    except (InvalidJobOperation, NoSuchJobError):
        pass  # finished meanwhile, or the queue TTL dropped it already
    except RedisError as error:  # the timeout answer stands; the queue TTL drops the job anyway
        logger.warning("api: could not cancel %s: %s", job_id, error)
