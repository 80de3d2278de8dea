"""RQ's success and failure callbacks for photo jobs: append the job's final outcome to a Redis Stream.

Why a stream (and not the bot polling each job's result): the answer must not live in the coroutine or
the process that enqueued the photo. A stream read by a consumer group of bot processes gives every
outcome to exactly one live bot process, keeps it (pending) until that process acknowledges it, and
lets another process claim it when the first died (`bot.answers`). RQ calls these functions in the
worker after `perform_job` and after its registry cleanup finds an abandoned job; they are
module-level and named by dotted path (`worker.contract.SUCCESS_CALLBACK`), so RQ's JSON job data
can carry them, and they import nothing of the bot.

A failure is published only when RQ will not retry the job: RQ runs the failure callback on every
failed attempt, retries included. Once published, the job's photo is dropped from Redis (`drop_payload`):
only its result or reason is read back, and a failed job stays a week for post-mortems.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from redis import Redis
from rq.job import Job

from worker import metrics
from worker.contract import RESULTS_STREAM, STREAM_MAX_ENTRIES, ClassifyResult, ResultEntry
from worker.queue import drop_payload

REASON_CHARS = 300


def publish_success(job: Job, connection: Redis, result: Any) -> None:
    """RQ on_success: the job returned a `ClassifyResult` dict (which may itself be an error result)."""
    metrics.count_result(result)
    entry = ResultEntry(job_id=job.id, status="finished", result=ClassifyResult.model_validate(result))
    _publish(connection, entry)
    drop_payload(job, connection)


def publish_failure(
    job: Job,
    connection: Redis,
    exc_type: type[BaseException],
    exc_value: BaseException,
    traceback: TracebackType | Any,
) -> None:
    """RQ on_failure: publish the reason once RQ has no retry left for the job."""
    if job.should_retry:
        return
    metrics.count_failure()
    reason = f"{exc_type.__name__}: {exc_value}".strip()[-REASON_CHARS:]
    _publish(connection, ResultEntry(job_id=job.id, status="failed", reason=reason))
    drop_payload(job, connection)


def _publish(connection: Redis, entry: ResultEntry) -> None:
    connection.xadd(RESULTS_STREAM, entry.to_fields(), maxlen=STREAM_MAX_ENTRIES, approximate=True)
