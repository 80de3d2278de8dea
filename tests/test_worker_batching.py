"""worker.batching: waiting photo jobs are classified in one forward pass and each still ends in RQ's
registries exactly as a plain RQ worker would leave it (real redis-server, worker in-process)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from rq import Queue
from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer

from tests.fake_classifier import FakeClassifier, blue_jpeg, installed_fake
from worker.batching import BatchingWorker
from worker.contract import ErrorCode
from worker.queue import JobState, build_request, enqueue_photo, fetch_record


@pytest.fixture
def classifier() -> Iterator[FakeClassifier]:
    with installed_fake(default_tta=8) as fake:
        yield fake


def run_burst(queue: Queue, batch_size: int = 16) -> None:
    worker = BatchingWorker(
        [queue], connection=queue.connection, serializer=JSONSerializer, batch_size=batch_size
    )
    worker.work(burst=True)


def enqueue(queue: Queue, data: bytes, n: int = 1, **kwargs: object) -> list[str]:
    return [enqueue_photo(queue, build_request(data, f"r{i}"), **kwargs).id for i in range(n)]  # type: ignore[arg-type]


def test_waiting_photos_share_one_forward_pass(queue: Queue, classifier: FakeClassifier) -> None:
    job_ids = enqueue(queue, blue_jpeg(), n=5)
    run_burst(queue)
    assert classifier.calls == [(5, 8)]
    outcomes = [fetch_record(queue, job_id) for job_id in job_ids]
    assert [o.state for o in outcomes] == [JobState.DONE] * 5
    assert [o.result.request_id for o in outcomes if o.result] == [f"r{i}" for i in range(5)]
    assert all(o.result and o.result.suggested == "sky" for o in outcomes)
    assert FinishedJobRegistry(queue=queue).count == 5
    assert StartedJobRegistry(queue=queue).count == 0
    assert queue.intermediate_queue.get_job_ids() == []


def test_batch_size_caps_each_pass(queue: Queue, classifier: FakeClassifier) -> None:
    enqueue(queue, blue_jpeg(), n=5)
    run_burst(queue, batch_size=2)
    assert classifier.calls == [(2, 8), (2, 8), (1, 8)]


def test_bad_photo_in_a_batch_is_an_error_result(queue: Queue, classifier: FakeClassifier) -> None:
    good, bad = enqueue(queue, blue_jpeg())[0], enqueue(queue, b"")[0]
    run_burst(queue)
    assert fetch_record(queue, good).result.ok  # type: ignore[union-attr]
    outcome = fetch_record(queue, bad)
    assert outcome.state is JobState.DONE
    assert outcome.result is not None and outcome.result.error is ErrorCode.EMPTY
    assert FailedJobRegistry(queue=queue).count == 0
    assert classifier.calls == [(1, 8)]


def test_photo_waiting_past_queue_ttl_is_dropped(queue: Queue, classifier: FakeClassifier) -> None:
    # The stale photo waits behind a fresh one, so it expires while the batch claims it.
    (fresh,) = enqueue(queue, blue_jpeg())
    (stale,) = enqueue(queue, blue_jpeg(), queue_ttl=1)
    time.sleep(1.2)
    run_burst(queue)
    assert fetch_record(queue, stale).state is JobState.GONE
    assert fetch_record(queue, fresh).state is JobState.DONE
    assert classifier.calls == [(1, 8)]
    assert queue.intermediate_queue.get_job_ids() == []


def test_model_failure_is_retried_then_failed_with_reason(queue: Queue, classifier: FakeClassifier) -> None:
    classifier.fail_with = RuntimeError("CUDA out of memory")
    job_ids = enqueue(queue, blue_jpeg(), n=2, retries=1)
    run_burst(queue)
    for job_id in job_ids:
        outcome = fetch_record(queue, job_id)
        assert outcome.state is JobState.FAILED
        assert outcome.reason and "CUDA out of memory" in outcome.reason
        assert job_id in FailedJobRegistry(queue=queue)
    # Twice (first run, then the retry): a failed batch pass, then each job alone.
    assert classifier.calls == [(2, 8), (1, 8), (1, 8)] * 2


def test_a_non_photo_job_in_a_batch_is_refused_and_the_photo_still_answered(
    queue: Queue, classifier: FakeClassifier
) -> None:
    other = queue.enqueue("builtins.len", [1, 2, 3])
    (photo_job,) = enqueue(queue, blue_jpeg())
    run_burst(queue)
    outcome = fetch_record(queue, other.id)
    assert outcome.state is JobState.FAILED and "function 'builtins.len'" in (outcome.reason or "")
    assert fetch_record(queue, photo_job).state is JobState.DONE
