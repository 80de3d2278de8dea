"""The one job client: what the bot and the HTTP API (and benchmarks, tests) call to put a photo on the
queue (`require_worker`, `submit`), drop it (`cancel`) and read back what became of it (`fetch_record`,
`outcome_of`). Imports no torch: the bot imports this module. Its calls are synchronous, as RQ's are; the
bot runs them on asyncio's thread pool, the API on Starlette's.

Every job is JSON-serialised (`rq.serializers.JSONSerializer`): RQ's default pickle would let anyone
who can write to Redis run code in the worker. JSON limits the arguments, not the function: RQ imports a
job's `func_name` and its callbacks' names, so `ContractJob` refuses any name but ours before importing it.
"""

from __future__ import annotations

import base64
import logging
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Callback, Queue, Retry, Worker
from rq.exceptions import DeserializationError, InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from worker.contract import (
    FAILURE_CALLBACK,
    JOB_FUNCTION,
    QUEUE_NAME,
    SUCCESS_CALLBACK,
    ClassifyRequest,
    ClassifyResult,
    ResultEntry,
)

logger = logging.getLogger(__name__)

# A photo job runs in well under a second on a GPU and a few seconds on a CPU; past this RQ kills it.
JOB_TIMEOUT_S = 30
# A user has given up after about a minute: RQ drops a job still queued after this (queue TTL).
QUEUE_TTL_S = 60
# Results are read by the bot within seconds; keep them a little while for debugging.
RESULT_TTL_S = 600
# Failed jobs stay in RQ's FailedJobRegistry, with their reason, for a week of post-mortems.
FAILURE_TTL_S = 7 * 24 * 3600
# Jobs only raise on transient/internal failures (bad photos are error *results*), so a couple of
# immediate retries are safe and cannot loop on a poison photo.
RETRIES = 2


# The only functions a photo job may name (None: no callback of that kind). Anything else in a job is a Redis
# writer's, not the bot's or the API's.
ALLOWED_NAMES: dict[str, frozenset[str | None]] = {
    "function": frozenset({JOB_FUNCTION}),
    "on_success": frozenset({SUCCESS_CALLBACK, None}),
    "on_failure": frozenset({FAILURE_CALLBACK, None}),
    "on_stopped": frozenset({None}),
}


class ForeignJobError(Exception):
    """A job names a function that is not ours: refused before anything is imported."""


def refusal_reason(names: dict[str, str | None], has_instance: bool = False) -> str | None:
    """Why a job with these function/callback names may not run (None: it is ours). Pure: names only."""
    if has_instance:
        return "refused: the job names a method of an instance, not worker.jobs.classify_photo"
    for kind, allowed in ALLOWED_NAMES.items():
        name = names.get(kind)
        if name not in allowed:
            ours = ", ".join(sorted(map(str, allowed)))
            return f"refused: {kind} {name!r} is not one of this worker's ({ours})"
    return None


class ContractJob(Job):
    """An RQ job that resolves only our function and callbacks. RQ's `Job.func` and `*_callback` import
    whatever names the job's hash in Redis holds; here a job naming anything else raises `ForeignJobError`
    when RQ resolves its function (so `perform_job` records it failed, with the reason), runs no callback at
    all and is not retried. Nothing of it is imported. The worker's job class (`BatchingWorker.job_class`) and
    the photo queue's, so RQ's registry cleanup, which runs failure callbacks of abandoned jobs, resolves
    through it too."""

    def callable_names(self) -> dict[str, str | None]:
        return {
            "function": self.func_name,
            "on_success": self._success_callback_name or None,
            "on_failure": self._failure_callback_name or None,
            "on_stopped": self._stopped_callback_name or None,
        }

    def refusal(self) -> str | None:
        try:
            return refusal_reason(self.callable_names(), has_instance=self.instance is not None)
        except DeserializationError:
            return "refused: the job's data is not the JSON this worker reads"

    @property
    def func(self) -> Any:
        reason = self.refusal()
        if reason is not None:
            raise ForeignJobError(reason)
        return super().func

    @property
    def success_callback(self) -> Any:
        return None if self.refusal() else super().success_callback

    @property
    def failure_callback(self) -> Any:
        return None if self.refusal() else super().failure_callback

    @property
    def stopped_callback(self) -> Any:
        return None if self.refusal() else super().stopped_callback

    @property
    def should_retry(self) -> bool:
        return self.refusal() is None and super().should_retry


def photo_queue(connection: Redis, name: str = QUEUE_NAME) -> Queue:
    """The photo queue, always with the JSON serializer and `ContractJob`."""
    return Queue(name, connection=connection, serializer=JSONSerializer, job_class=ContractJob)


def drop_payload(job: Job, connection: Redis) -> None:
    """Forget a finished or failed job's photo (its base64 is nearly all of the job's bytes in Redis); its
    result, status and failure reason stay, which is all the bot and the API read back."""
    if job.args:  # reading them deserialises the data, which is then written back without them
        job.args = ()
        connection.hset(job.key, "data", job.data)


def live_workers(queue: Queue) -> int:
    """Workers serving `queue` now. RQ's `Worker.all` skips registrations whose key expired (a worker killed
    with SIGKILL never deregisters; its key lives worker_ttl + 60 s after its last heartbeat), unlike
    `Worker.count`, which would count it for as long as its name stays in the queue's worker set."""
    return len(Worker.all(queue=queue))


class NoLiveWorker(Exception):
    """No worker serves the photo queue: a photo is answered "busy" rather than left to its deadline."""


def require_worker(queue: Queue) -> None:
    """Raise `NoLiveWorker` unless a live worker serves `queue`."""
    if not live_workers(queue):
        raise NoLiveWorker(f"no worker serves queue {queue.name!r}")


def new_job_id() -> str:
    """A photo job's id, which is also its request's id (one id in the bot's, the API's and the worker's
    logs)."""
    return uuid.uuid4().hex


def build_request(
    photo: bytes, request_id: str | None = None, tta: int | None = None, submitted_at: float | None = None
) -> ClassifyRequest:
    """A contract request for raw photo bytes, stamped with the current time."""
    return ClassifyRequest(
        request_id=request_id or new_job_id(),
        image_b64=base64.b64encode(photo).decode("ascii"),
        submitted_at=time.time() if submitted_at is None else submitted_at,
        tta=tta,
    )


def enqueue_photo(
    queue: Queue,
    request: ClassifyRequest,
    *,
    job_timeout: int = JOB_TIMEOUT_S,
    queue_ttl: int = QUEUE_TTL_S,
    result_ttl: int = RESULT_TTL_S,
    failure_ttl: int = FAILURE_TTL_S,
    retries: int = RETRIES,
    job_id: str | None = None,
) -> Job:
    """Put one photo on `queue` for `worker.jobs.classify_photo`; returns the RQ job. Its final outcome
    is also appended to `RESULTS_STREAM` (`worker.results`)."""
    return queue.enqueue(
        JOB_FUNCTION,
        request.model_dump(mode="json"),
        job_id=job_id,
        job_timeout=job_timeout,
        ttl=queue_ttl,
        result_ttl=result_ttl,
        failure_ttl=failure_ttl,
        retry=Retry(max=retries) if retries else None,
        on_success=Callback(SUCCESS_CALLBACK),
        on_failure=Callback(FAILURE_CALLBACK),
        # RQ's default description is the call's repr: megabytes of base64 in Redis and in logs.
        description=f"classify_photo {request.request_id}",
    )


def submit(queue: Queue, photo: bytes, job_id: str, *, queue_ttl: int) -> Job:
    """Queue `photo` as the job `job_id` (the request's id too), dropped unstarted after `queue_ttl` s."""
    return enqueue_photo(queue, build_request(photo, request_id=job_id), queue_ttl=queue_ttl, job_id=job_id)


def cancel(queue: Queue, job_id: str) -> None:
    """Drop a job nobody waits for any more, so a worker that frees up later skips it. Best effort: the
    queue TTL drops it anyway."""
    try:
        Job.fetch(job_id, connection=queue.connection, serializer=queue.serializer).cancel()
    except (InvalidJobOperation, NoSuchJobError):
        pass  # finished meanwhile, or the queue TTL dropped it already
    except RedisError as error:
        logger.warning("could not cancel job %s: %s", job_id, error)


class JobState(StrEnum):
    """Where a photo job stands in RQ's records."""

    PENDING = "pending"  # queued, started or waiting for a retry
    DONE = "done"  # the worker returned a ClassifyResult (which itself may be an error result)
    FAILED = "failed"  # the job raised or was abandoned and has no retries left; `reason` says why
    GONE = "gone"  # no such job: dropped by the queue TTL, or its result expired


@dataclass(frozen=True)
class JobRecord:
    """RQ's stored record of a job: its state, its result when done, and the failure reason when failed."""

    state: JobState
    result: ClassifyResult | None = None
    reason: str | None = None


def fetch_record(queue: Queue, job_id: str) -> JobRecord:
    """Read RQ's record of a photo job without blocking."""
    try:
        job = Job.fetch(job_id, connection=queue.connection, serializer=queue.serializer)
        status = job.get_status(refresh=False)
    except NoSuchJobError:
        return JobRecord(JobState.GONE)
    if status == JobStatus.FINISHED:
        value = job.return_value()
        if value is None:
            return JobRecord(JobState.GONE)
        return JobRecord(JobState.DONE, result=ClassifyResult.model_validate(value))
    if status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
        latest = job.latest_result()
        reason = (latest.exc_string if latest else None) or str(status.value)
        return JobRecord(JobState.FAILED, reason=reason.strip().splitlines()[-1])
    return JobRecord(JobState.PENDING)


@dataclass(frozen=True)
class Classified:
    result: ClassifyResult  # ok or a per-image error the user can act on
    latency_ms: float  # accepted -> result in hand


@dataclass(frozen=True)
class TimedOut:
    waited_s: float


@dataclass(frozen=True)
class Failed:
    reason: str  # the job raised or was stopped; for the log only


# What a photo job's end means for whoever waits on it (the bot's user, the API's client).
Outcome = Classified | TimedOut | Failed


def outcome_of(final: ResultEntry | JobRecord, waited_s: float) -> Outcome:
    """What a job's final state means, `waited_s` after it was accepted: its results-stream entry, or RQ's
    record once nobody can wait longer (a result RQ has wins over "took too long": its entry was lost or is
    still unread)."""
    match final:
        case ResultEntry(result=ClassifyResult() as result) | JobRecord(
            state=JobState.DONE, result=ClassifyResult() as result
        ):
            return Classified(result, waited_s * 1000)
        case ResultEntry(reason=reason) | JobRecord(state=JobState.FAILED, reason=reason):
            return Failed(reason or "failed")
    return TimedOut(waited_s)
