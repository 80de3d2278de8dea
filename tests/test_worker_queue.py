"""worker.queue: photos are enqueued as JSON with the contract's timeouts and TTLs, and outcomes read back."""

from __future__ import annotations

import json
import zlib

from redis import Redis
from rq import Queue, SimpleWorker, Worker
from rq.job import Job
from rq.serializers import JSONSerializer

from worker.contract import JOB_FUNCTION, QUEUE_NAME, ClassifyResult
from worker.queue import (
    FAILURE_TTL_S,
    JOB_TIMEOUT_S,
    QUEUE_TTL_S,
    RESULT_TTL_S,
    JobState,
    build_request,
    enqueue_photo,
    fetch_record,
    live_workers,
    photo_queue,
)


def test_job_carries_the_contract_limits(redis_conn: Redis) -> None:
    queue = photo_queue(redis_conn)
    job = enqueue_photo(queue, build_request(b"\xff\xd8photo", "req-1"))
    stored = Job.fetch(job.id, connection=redis_conn, serializer=queue.serializer)
    assert stored.origin == QUEUE_NAME
    assert stored.func_name == JOB_FUNCTION
    assert (stored.timeout, stored.ttl, stored.result_ttl, stored.failure_ttl) == (
        JOB_TIMEOUT_S,
        QUEUE_TTL_S,
        RESULT_TTL_S,
        FAILURE_TTL_S,
    )
    assert stored.retries_left == 2
    assert stored.description == "classify_photo req-1"
    assert 0 < redis_conn.ttl(stored.key) <= QUEUE_TTL_S  # dropped if no worker starts it in time
    assert stored.args[0]["request_id"] == "req-1"


def test_payload_is_json_never_pickle(redis_conn: Redis) -> None:
    job = enqueue_photo(photo_queue(redis_conn), build_request(b"abc", "req-2"))
    raw = redis_conn.hget(job.key, "data")
    assert raw is not None
    data = json.loads(zlib.decompress(raw))
    assert data[0] == JOB_FUNCTION
    assert data[2][0]["image_b64"] == "YWJj"


def test_outcome_states(redis_conn: Redis) -> None:
    queue = photo_queue(redis_conn)
    job = enqueue_photo(queue, build_request(b"abc", "req-3"), retries=0)
    assert fetch_record(queue, job.id).state is JobState.PENDING
    assert fetch_record(queue, "no-such-job").state is JobState.GONE
    job.delete()
    assert fetch_record(queue, job.id).state is JobState.GONE


def test_done_outcome_parses_the_result(redis_conn: Redis) -> None:
    queue: Queue = photo_queue(redis_conn)
    # Any job returning a ClassifyResult dict will do; the worker's own is tested end to end.
    done = queue.enqueue("builtins.dict", request_id="x", ok=False, error="empty", result_ttl=60)
    SimpleWorker([queue], connection=redis_conn, serializer=JSONSerializer).work(burst=True)
    outcome = fetch_record(queue, done.id)
    assert outcome.state is JobState.DONE
    assert outcome.result == ClassifyResult(request_id="x", ok=False, error="empty")


def test_live_workers_leave_out_an_expired_registration(redis_conn: Redis, idle_worker: Worker) -> None:
    queue = photo_queue(redis_conn)
    assert live_workers(queue) == 1
    redis_conn.delete(idle_worker.key)  # what expiry does to a worker killed with SIGKILL
    assert Worker.count(queue=queue) == 1  # RQ's count still has its name
    assert live_workers(queue) == 0
