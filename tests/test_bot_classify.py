"""bot.classify against a private redis-server: every way a photo can end is a typed outcome.

The worker runs in-process here (BatchingWorker in a thread, a fake classifier) so these stay fast;
tests/e2e drive the real worker process with the real model.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator

import pytest
from PIL import Image
from redis import Redis
from rq import Worker
from rq.job import JobStatus
from rq.serializers import JSONSerializer

from bot.classify import Busy, Classified, Classifier, Failed, TimedOut
from tests.fake_classifier import FakeClassifier, installed_fake
from tests.services import free_port
from worker.batching import BatchingWorker
from worker.contract import ErrorCode
from worker.queue import photo_queue


def jpeg(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), colour).save(buffer, format="JPEG")
    return buffer.getvalue()


class KeepAlive:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1


@pytest.fixture
def classifier_model() -> Iterator[FakeClassifier]:
    with installed_fake(default_tta=1) as fake:
        yield fake


@pytest.fixture
def idle_worker(redis_conn: Redis) -> Iterator[Worker]:
    """A worker registered on the queue that takes no jobs (a stuck or busy worker)."""
    worker = Worker([photo_queue(redis_conn)], connection=redis_conn, serializer=JSONSerializer)
    worker.register_birth()
    yield worker
    worker.register_death()


async def classify_with_burst_worker(
    classifier: Classifier, redis_conn: Redis, image: bytes, keep_alive=None
):
    """Classify while a burst worker serves the queue. RQ workers install signal handlers, so the
    worker runs on the main thread once the job is queued (the wait for its result is on a thread)."""
    task = asyncio.create_task(classifier.classify(image, keep_alive or KeepAlive()))
    queue = photo_queue(redis_conn)
    for _ in range(500):
        if queue.count or task.done():
            break
        await asyncio.sleep(0.01)
    BatchingWorker([queue], connection=redis_conn, serializer=JSONSerializer).work(burst=True)
    return await task


async def test_a_photo_comes_back_classified(redis_url, redis_conn, idle_worker, classifier_model):
    classifier = Classifier(redis_url, timeout_s=20)
    keep_alive = KeepAlive()
    try:
        outcome = await classify_with_burst_worker(classifier, redis_conn, jpeg((0, 0, 255)), keep_alive)
    finally:
        classifier.close()
    assert isinstance(outcome, Classified)
    assert outcome.result.ok and outcome.result.suggested == "sky"
    assert outcome.latency_ms > 0
    assert keep_alive.calls >= 1


async def test_a_bad_image_is_a_classified_error_result(redis_url, redis_conn, idle_worker, classifier_model):
    classifier = Classifier(redis_url, timeout_s=20)
    try:
        outcome = await classify_with_burst_worker(classifier, redis_conn, b"not an image at all")
    finally:
        classifier.close()
    assert isinstance(outcome, Classified)
    assert not outcome.result.ok
    assert outcome.result.error is ErrorCode.NOT_AN_IMAGE


async def test_a_job_that_keeps_failing_is_failed(redis_url, redis_conn, idle_worker, classifier_model):
    classifier_model.fail_with = RuntimeError("CUDA out of memory")
    classifier = Classifier(redis_url, timeout_s=20)
    try:
        outcome = await classify_with_burst_worker(classifier, redis_conn, jpeg((0, 0, 255)))
    finally:
        classifier.close()
    assert isinstance(outcome, Failed)
    assert "CUDA out of memory" in outcome.reason


@pytest.mark.parametrize("stale_registration", [False, True])
async def test_no_worker_is_busy_without_queueing(redis_url, redis_conn, stale_registration):
    if stale_registration:
        # A SIGKILLed worker stays in the queue's worker set; once its key has expired it must not count.
        worker = BatchingWorker([photo_queue(redis_conn)], connection=redis_conn, serializer=JSONSerializer)
        assert worker.worker_ttl == 60  # the key outlives the last heartbeat by 120 s, not RQ's 8 minutes
        worker.register_birth()
        redis_conn.delete(worker.key)  # what expiry does to a worker that never deregistered
        assert Worker.count(queue=photo_queue(redis_conn)) == 1
    classifier = Classifier(redis_url, timeout_s=5)
    try:
        outcome = await classifier.classify(jpeg((0, 0, 255)), KeepAlive())
    finally:
        classifier.close()
    assert outcome == Busy("no worker")
    assert photo_queue(redis_conn).count == 0


async def test_redis_down_is_busy_quickly():
    classifier = Classifier(f"redis://127.0.0.1:{free_port()}/0", timeout_s=30)
    try:
        outcome = await asyncio.wait_for(classifier.classify(jpeg((0, 0, 255)), KeepAlive()), timeout=10)
    finally:
        classifier.close()
    assert outcome == Busy("redis unavailable")


async def test_no_answer_in_time_times_out_and_drops_the_job(redis_url, redis_conn, idle_worker):
    classifier = Classifier(redis_url, timeout_s=2.5)
    keep_alive = KeepAlive()
    try:
        outcome = await classifier.classify(jpeg((0, 0, 255)), keep_alive)
    finally:
        classifier.close()
    assert isinstance(outcome, TimedOut)
    assert outcome.waited_s >= 2.5
    assert keep_alive.calls == 1  # at the start; the next is due after 4 s
    queue = photo_queue(redis_conn)
    assert queue.get_jobs() == []  # a worker that frees up later will not classify a photo nobody awaits
    for job_id in queue.canceled_job_registry.get_job_ids():  # cancelled, unless its queue TTL was first
        job = queue.fetch_job(job_id)
        assert job is None or job.get_status() == JobStatus.CANCELED
