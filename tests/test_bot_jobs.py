"""bot.jobs: submitting a photo (real redis-server); worker.queue.outcome_of: what a result or a passed
deadline means."""

from __future__ import annotations

import io
import json
import time

import pytest
from PIL import Image
from pydantic import ValidationError
from redis.asyncio import Redis as AsyncRedis
from rq import Worker
from rq.serializers import JSONSerializer

from bot.jobs import Accepted, Busy, Duplicate, PhotoJobs
from bot.pending import PendingAnswer, PendingAnswers
from tests.services import free_port
from worker.batching import BatchingWorker
from worker.contract import ClassifyResult, ResultEntry
from worker.queue import (
    Classified,
    Failed,
    JobRecord,
    JobState,
    TimedOut,
    new_job_id,
    outcome_of,
    photo_queue,
)


def jpeg(colour: tuple[int, int, int] = (0, 0, 255)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), colour).save(buffer, format="JPEG")
    return buffer.getvalue()


def pending_photo(update_id: int, timeout_s: float = 30.0) -> PendingAnswer:
    now = time.time()
    return PendingAnswer(
        job_id=new_job_id(),
        update_id=update_id,
        kind="private",
        message={"message_id": 1, "date": int(now), "chat": {"id": 5, "type": "private"}},
        file_unique_id="f1",
        accepted_at=now,
        deadline=now + timeout_s,
    )


@pytest.fixture
async def jobs(redis_url: str):
    aredis = AsyncRedis.from_url(redis_url)
    jobs = PhotoJobs(redis_url, PendingAnswers(aredis))
    yield jobs
    jobs.close()
    await aredis.aclose()


async def test_a_photo_is_recorded_and_queued_once_per_update(jobs, redis_conn, idle_worker):
    photo = pending_photo(update_id=41)
    assert await jobs.submit(jpeg(), photo) == Accepted(photo.job_id)
    again = pending_photo(update_id=41)  # Telegram delivered the same update again
    assert await jobs.submit(jpeg(), again) == Duplicate()
    queue = photo_queue(redis_conn)
    assert queue.get_job_ids() == [photo.job_id]
    job = queue.fetch_job(photo.job_id)
    assert job is not None and job.success_callback is not None  # its result goes to the stream
    assert job.ttl == 30  # the queue drops it when nobody waits any more


async def test_a_photo_recorded_by_a_process_killed_before_queueing_is_queued_on_redelivery(
    redis_url, redis_conn, idle_worker, jobs
):
    first = pending_photo(update_id=42)
    aredis = AsyncRedis.from_url(redis_url)
    try:
        assert await PendingAnswers(aredis).record(first)  # ...and the process died here
    finally:
        await aredis.aclose()
    assert await jobs.submit(jpeg(), pending_photo(update_id=42)) == Duplicate()
    assert photo_queue(redis_conn).get_job_ids() == [first.job_id]  # its answer comes as recorded
    assert await jobs.submit(jpeg(), pending_photo(update_id=42)) == Duplicate()
    assert photo_queue(redis_conn).get_job_ids() == [first.job_id]  # queued once


@pytest.mark.parametrize("stale_registration", [False, True])
async def test_no_worker_is_busy_without_queueing(jobs, redis_conn, stale_registration):
    if stale_registration:
        # A SIGKILLed worker stays in the queue's worker set; once its key has expired it must not count.
        worker = BatchingWorker([photo_queue(redis_conn)], connection=redis_conn, serializer=JSONSerializer)
        assert worker.worker_ttl == 60  # the key outlives the last heartbeat by 120 s, not RQ's 8 minutes
        worker.register_birth()
        redis_conn.delete(worker.key)  # what expiry does to a worker that never deregistered
        assert Worker.count(queue=photo_queue(redis_conn)) == 1
    assert await jobs.submit(jpeg(), pending_photo(1)) == Busy("no worker")
    assert photo_queue(redis_conn).count == 0


async def test_redis_down_is_busy():
    url = f"redis://127.0.0.1:{free_port()}/0"
    aredis = AsyncRedis.from_url(url, socket_connect_timeout=2)
    jobs = PhotoJobs(url, PendingAnswers(aredis))
    try:
        assert await jobs.submit(jpeg(), pending_photo(1)) == Busy("redis unavailable")
    finally:
        jobs.close()
        await aredis.aclose()


async def test_cancel_drops_a_queued_job(jobs, redis_conn, idle_worker):
    photo = pending_photo(update_id=2)
    await jobs.submit(jpeg(), photo)
    await jobs.cancel(photo.job_id)
    await jobs.cancel("no-such-job")  # gone already: nothing to do
    assert photo_queue(redis_conn).get_jobs() == []


RESULT = ClassifyResult(request_id="r", ok=True, hashtag="sky", confidence=0.9, suggested="sky")


def entry(fields: dict[bytes, bytes]) -> ResultEntry:
    return ResultEntry.from_fields(fields)


def test_a_finished_entry_is_classified_and_a_failed_one_failed():
    # Written by a worker from before the entry's version field: read as version 1.
    finished = {b"job_id": b"j", b"status": b"finished", b"result": RESULT.model_dump_json().encode()}
    assert outcome_of(entry(finished), 0.0125) == Classified(RESULT, 12.5)
    failed = {b"job_id": b"j", b"status": b"failed", b"reason": b"AbandonedJobError: "}
    assert outcome_of(entry(failed), 1.0) == Failed("AbandonedJobError: ")
    broken = {b"job_id": b"j", b"status": b"finished", b"result": json.dumps({"ok": True}).encode()}
    outcome = outcome_of(entry(broken), 1.0)
    assert isinstance(outcome, Failed) and "contract" in outcome.reason
    newer = {**finished, b"version": b"2"}  # a contract this bot does not speak: the photo is still answered
    outcome = outcome_of(entry(newer), 1.0)
    assert isinstance(outcome, Failed) and "contract" in outcome.reason


def test_a_result_entry_round_trips_through_its_stream_fields():
    for written in (
        ResultEntry(job_id="j", status="finished", result=RESULT),
        ResultEntry(job_id="j", status="failed", reason="RuntimeError: CUDA out of memory"),
    ):
        fields = written.to_fields()
        assert fields["version"] == "1" and fields["job_id"] == "j"
        assert entry({key.encode(): value.encode() for key, value in fields.items()}) == written
    with pytest.raises(ValidationError):  # names no photo to answer
        entry({b"status": b"failed", b"reason": b"x"})
    with pytest.raises(ValidationError):
        ResultEntry(job_id="j", status="finished")


def test_past_the_deadline_a_stored_result_still_wins_over_took_too_long():
    assert outcome_of(JobRecord(JobState.DONE, result=RESULT), 61.0) == Classified(RESULT, 61_000.0)
    assert outcome_of(JobRecord(JobState.FAILED, reason="boom"), 61.0) == Failed("boom")
    assert outcome_of(JobRecord(JobState.PENDING), 61.0) == TimedOut(61.0)
    assert outcome_of(JobRecord(JobState.GONE), 61.0) == TimedOut(61.0)
