"""A photo through the worker, for the HTTP API: the job client (`worker.queue`), waited for here.

RQ's client is synchronous, so each Redis call runs in Starlette's thread pool and lasts a round trip
or two. The wait itself holds no thread: between looks at the job (`fetch_record`) the request sleeps
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
from starlette.concurrency import run_in_threadpool

from web.api.errors import TIMEOUT_MESSAGE, ApiError, ApiErrorCode, busy, image_error
from worker.contract import ClassifyResult
from worker.queue import (
    Classified,
    Failed,
    JobRecord,
    JobState,
    NoLiveWorker,
    TimedOut,
    cancel,
    fetch_record,
    new_job_id,
    outcome_of,
    photo_queue,
    require_worker,
    submit,
)

logger = logging.getLogger(__name__)

FIRST_POLL_S = 0.025
POLL_GROWTH = 1.5
MAX_POLL_S = 0.25


async def classify(redis: Redis, image: bytes, timeout_s: float) -> ClassifyResult:
    """The worker's `ClassifyResult` for `image` (classified, or a per-image error result). Raises
    `ApiError`: busy (no worker, Redis down), timeout, or internal (the job failed)."""
    queue = photo_queue(redis)
    job_id = new_job_id()
    started = time.monotonic()
    try:
        await run_in_threadpool(require_worker, queue)
        await run_in_threadpool(submit, queue, image, job_id, queue_ttl=math.ceil(timeout_s))
        record = await wait_for_record(queue, job_id, timeout_s)
    except NoLiveWorker as error:
        logger.warning("api: %s", error)
        raise busy() from error
    except RedisError as error:
        logger.warning("api: redis unavailable: %s", error)
        raise busy() from error
    match outcome_of(record, time.monotonic() - started):
        case Classified(result=result):
            return result
        case Failed(reason=reason):
            logger.error("api: job %s failed: %s", job_id, reason)
            raise image_error(None)
        case TimedOut(waited_s=waited_s):
            # Still pending at the deadline, or gone: the queue TTL dropped it before a worker took it.
            logger.warning("api: job %s %s after %.1f s", job_id, record.state.value, waited_s)
            await run_in_threadpool(cancel, queue, job_id)
            raise ApiError(504, ApiErrorCode.TIMEOUT, TIMEOUT_MESSAGE)


async def wait_for_record(queue: Queue, job_id: str, timeout_s: float) -> JobRecord:
    """RQ's record of the job once it is no longer pending, or its pending one when `timeout_s` ran out."""
    deadline = time.monotonic() + timeout_s
    delay = FIRST_POLL_S
    while True:
        record = await run_in_threadpool(fetch_record, queue, job_id)
        left = deadline - time.monotonic()
        if record.state is not JobState.PENDING or left <= 0:
            return record
        await anyio.sleep(min(delay, left))
        delay = min(delay * POLL_GROWTH, MAX_POLL_S)
