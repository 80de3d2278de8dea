"""worker.results: each photo job's final outcome is appended once to the results stream by RQ's
callbacks, and counted once in worker.metrics (real redis-server, BatchingWorker in-process with the fake
classifier)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY
from redis import Redis
from rq import Queue
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer

from tests.fake_classifier import FakeClassifier, blue_jpeg, installed_fake
from worker import metrics
from worker.batching import BatchingWorker
from worker.contract import RESULTS_STREAM, ClassifyResult
from worker.queue import build_request, enqueue_photo


@pytest.fixture
def classifier() -> Iterator[FakeClassifier]:
    with installed_fake(default_tta=1) as fake:
        yield fake


def run_burst(queue: Queue) -> None:
    BatchingWorker([queue], connection=queue.connection, serializer=JSONSerializer).work(burst=True)


def entries(redis_conn: Redis) -> list[dict[str, str]]:
    return [
        {key.decode(): value.decode() for key, value in fields.items()}
        for _, fields in redis_conn.xrange(RESULTS_STREAM)
    ]


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def failed_jobs() -> float:
    return sample("scenetag_worker_photos_total", outcome="failed", model_version=metrics.NO_MODEL)


def test_each_finished_photo_is_published_with_its_result(queue, redis_conn, classifier):
    job_ids = [enqueue_photo(queue, build_request(blue_jpeg(), f"r{i}")).id for i in range(3)]
    run_burst(queue)
    published = entries(redis_conn)
    assert [entry["job_id"] for entry in published] == job_ids
    assert {entry["status"] for entry in published} == {"finished"}
    result = ClassifyResult.model_validate(json.loads(published[0]["result"]))
    assert (result.request_id, result.suggested) == ("r0", "sky")


def test_a_failure_is_published_once_after_the_last_retry(queue, redis_conn, classifier):
    classifier.fail_with = RuntimeError("CUDA out of memory")
    job = enqueue_photo(queue, build_request(blue_jpeg()), retries=2)
    run_burst(queue)
    assert classifier.calls == [(1, 1)] * 3  # the first run and two retries
    (entry,) = entries(redis_conn)
    assert entry["job_id"] == job.id
    assert entry["status"] == "failed"
    assert "CUDA out of memory" in entry["reason"]


def test_an_abandoned_job_is_published_as_failed_by_rqs_cleanup(queue, redis_conn, classifier):
    """A worker killed mid-job: RQ's registry cleanup fails the job (no retries left) and the callback
    publishes it, so the bot answers instead of waiting for the deadline."""
    job = enqueue_photo(queue, build_request(blue_jpeg()), retries=0)
    worker = BatchingWorker([queue], connection=redis_conn, serializer=JSONSerializer)
    worker.prepare_execution(job)  # started, then the worker "dies": no result, no heartbeat
    assert entries(redis_conn) == []
    failed_before = failed_jobs()
    StartedJobRegistry(queue=queue).cleanup(timestamp=time.time() + 24 * 3600)
    (entry,) = entries(redis_conn)
    assert (entry["job_id"], entry["status"]) == (job.id, "failed")
    assert "AbandonedJobError" in entry["reason"]
    assert failed_jobs() == failed_before + 1  # counted by the process whose cleanup found it


def test_a_batch_counts_each_photo_and_one_forward_pass(queue: Queue, classifier: FakeClassifier) -> None:
    suggested = {"outcome": "suggested", "model_version": FakeClassifier.version}
    photos_before = sample("scenetag_worker_photos_total", **suggested)
    passes_before = sample("scenetag_worker_batch_size_count")
    sizes_before = sample("scenetag_worker_batch_size_sum")
    for index in range(3):
        enqueue_photo(queue, build_request(blue_jpeg(), f"r{index}"))
    run_burst(queue)
    assert classifier.calls == [(3, 1)]  # one forward pass of three photos
    assert sample("scenetag_worker_photos_total", **suggested) == photos_before + 3
    assert sample("scenetag_worker_batch_size_count") == passes_before + 1
    assert sample("scenetag_worker_batch_size_sum") == sizes_before + 3


def test_a_failing_job_counts_once_after_its_last_retry(queue: Queue, classifier: FakeClassifier) -> None:
    before = failed_jobs()
    classifier.fail_with = RuntimeError("CUDA out of memory")
    enqueue_photo(queue, build_request(blue_jpeg()), retries=2)
    run_burst(queue)
    assert len(classifier.calls) == 3  # the first run and two retries
    assert failed_jobs() == before + 1
