"""worker.queue.ContractJob: the worker runs only the classification job. A job a Redis writer planted with
another function or callback is refused before anything of it is imported, recorded failed with the reason,
never retried; and a finished or failed photo job drops its photo from Redis at once (real redis-server,
BatchingWorker in-process with the fake classifier)."""

from __future__ import annotations

import json
import os
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from rq import Callback, Queue, Retry
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer

from tests.fake_classifier import FakeClassifier, blue_jpeg, installed_fake
from worker.batching import BatchingWorker
from worker.contract import FAILURE_CALLBACK, JOB_FUNCTION, RESULTS_STREAM, SUCCESS_CALLBACK
from worker.queue import (
    ContractJob,
    JobState,
    build_request,
    enqueue_photo,
    fetch_record,
    refusal_reason,
)

PLANTED = "tests.planted"
MARK = "SCENETAG_TEST_PLANTED_IMPORTED"


@pytest.fixture
def classifier() -> Iterator[FakeClassifier]:
    with installed_fake(default_tta=1) as fake:
        yield fake


@pytest.fixture(autouse=True)
def never_imported() -> Iterator[None]:
    sys.modules.pop(PLANTED, None)
    os.environ.pop(MARK, None)
    yield
    assert PLANTED not in sys.modules, "the worker imported a planted module"
    assert MARK not in os.environ


def run_burst(queue: Queue) -> None:
    BatchingWorker([queue], connection=queue.connection, serializer=JSONSerializer).work(burst=True)


def plant(redis_conn: Redis, func: str, *args: object, **callbacks: Callback | None) -> Job:
    """A job as a Redis writer would plant it: RQ's own client, any function name, on our queue."""
    writer = Queue("scenetag", connection=redis_conn, serializer=JSONSerializer)
    return writer.enqueue(func, *args, retry=Retry(max=2), **callbacks)


def payload_of(redis_conn: Redis, job: Job) -> list[object]:
    return json.loads(zlib.decompress(redis_conn.hget(job.key, "data")))


def test_only_our_function_and_callbacks_pass() -> None:
    ours = {"function": JOB_FUNCTION, "on_success": SUCCESS_CALLBACK, "on_failure": FAILURE_CALLBACK,
            "on_stopped": None}
    assert refusal_reason(ours) is None
    assert refusal_reason({**ours, "on_success": None, "on_failure": None}) is None
    assert "function 'os.system'" in (refusal_reason({**ours, "function": "os.system"}) or "")
    assert "on_failure 'os.system'" in (refusal_reason({**ours, "on_failure": "os.system"}) or "")
    assert "on_stopped" in (refusal_reason({**ours, "on_stopped": SUCCESS_CALLBACK}) or "")
    assert "instance" in (refusal_reason(ours, has_instance=True) or "")


def test_a_planted_os_system_job_is_refused_recorded_failed_and_never_run(
    redis_conn: Redis, queue: Queue, classifier: FakeClassifier, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    job = plant(redis_conn, "os.system", f"touch {marker}")
    run_burst(queue)
    assert not marker.exists()
    stored = Job.fetch(job.id, connection=redis_conn, serializer=JSONSerializer)
    assert stored.get_status() == JobStatus.FAILED
    assert job.id in FailedJobRegistry(queue=queue)
    latest = stored.latest_result()
    assert latest is not None and "ForeignJobError: refused: function 'os.system'" in latest.exc_string
    assert stored.retries_left == 2  # refused once, not retried
    outcome = fetch_record(queue, job.id)
    assert outcome.reason is not None and outcome.reason.startswith("worker.queue.ForeignJobError: refused")
    assert classifier.calls == []


def test_a_planted_module_function_is_not_even_imported(redis_conn: Redis, queue: Queue, classifier) -> None:
    job = plant(redis_conn, f"{PLANTED}.run")
    run_burst(queue)
    assert fetch_record(queue, job.id).state is JobState.FAILED


def test_our_function_with_a_planted_callback_is_refused_whole(redis_conn, queue, classifier) -> None:
    request = build_request(blue_jpeg()).model_dump(mode="json")
    job = plant(redis_conn, JOB_FUNCTION, request, on_success=Callback(f"{PLANTED}.callback"),
                on_failure=Callback(f"{PLANTED}.callback"))
    run_burst(queue)
    stored = Job.fetch(job.id, connection=redis_conn, serializer=JSONSerializer)
    assert stored.get_status() == JobStatus.FAILED
    assert "on_success 'tests.planted.callback'" in stored.latest_result().exc_string
    assert classifier.calls == []  # not even classified ahead
    assert redis_conn.xlen(RESULTS_STREAM) == 0  # no callback ran, ours neither


def test_rqs_cleanup_of_an_abandoned_planted_job_runs_no_callback(redis_conn, queue, classifier) -> None:
    job = plant(redis_conn, JOB_FUNCTION, {}, on_failure=Callback(f"{PLANTED}.callback"))
    worker = BatchingWorker([queue], connection=redis_conn, serializer=JSONSerializer)
    worker.prepare_execution(ContractJob.fetch(job.id, connection=redis_conn, serializer=JSONSerializer))
    registry = StartedJobRegistry(queue=queue)
    registry.job_class = queue.job_class  # as RQ's clean_registries(queue) in the worker's maintenance
    registry.cleanup(timestamp=time.time() + 24 * 3600)  # abandoned: requeued (retries left), no callback
    assert job.id not in registry
    assert redis_conn.xlen(RESULTS_STREAM) == 0


def test_a_finished_photo_job_keeps_its_result_and_drops_the_photo(redis_conn, queue, classifier) -> None:
    job = enqueue_photo(queue, build_request(blue_jpeg(), "r1"))
    assert payload_of(redis_conn, job)[2]  # the photo is there while it waits
    run_burst(queue)
    assert payload_of(redis_conn, job) == [JOB_FUNCTION, None, [], {}]
    outcome = fetch_record(queue, job.id)
    assert outcome.result is not None and outcome.result.request_id == "r1"


def test_a_failed_photo_job_keeps_its_reason_and_drops_the_photo(redis_conn, queue, classifier) -> None:
    classifier.fail_with = RuntimeError("CUDA out of memory")
    job = enqueue_photo(queue, build_request(blue_jpeg()), retries=1)
    run_burst(queue)
    assert classifier.calls == [(1, 1)] * 2  # the retry still had its photo
    assert payload_of(redis_conn, job) == [JOB_FUNCTION, None, [], {}]
    assert "CUDA out of memory" in (fetch_record(queue, job.id).reason or "")


def test_the_worker_uses_contract_jobs_whatever_job_class_it_is_given(redis_conn, queue) -> None:
    worker = BatchingWorker([queue], connection=redis_conn, serializer=JSONSerializer, job_class=Job)
    assert worker.job_class is ContractJob
