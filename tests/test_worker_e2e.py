"""The real worker process on a real redis-server: photos enqueued as the bot enqueues them come back
classified, bad photos come back as error results, SIGTERM finishes the job in hand, and a worker
killed mid-job loses no photo (it is retried or reported failed with the reason)."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from redis import Redis
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry, StartedJobRegistry

from ml.serving.model import file_version
from ml.tags import ALL_LABELS
from tests.services import RedisServer, StartWorker, WorkerProcess, served_model_path, wait_for
from worker.contract import MODEL_INFO_KEY, QUEUE_NAME, RESULTS_STREAM, ClassifyResult, ErrorCode, ModelInfo
from worker.queue import JobRecord, JobState, build_request, enqueue_photo, fetch_record, photo_queue

pytestmark = pytest.mark.slow
FINAL = (JobState.DONE, JobState.FAILED, JobState.GONE)


def noise_jpeg(seed: int = 0, size: tuple[int, int] = (320, 240)) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def bomb_png() -> bytes:
    """A complete PNG file of 100 bytes declaring 100000 x 100000 pixels (30 GB once decoded)."""
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 4096)  # the start of the first row; a real bomb goes on for gigabytes
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", pixels)
        + png_chunk(b"IEND", b"")
    )


def outcomes(queue: Queue, job_ids: list[str], timeout: float = 120) -> dict[str, JobRecord]:
    """Wait until every job has a final outcome; return them."""

    def final() -> dict[str, JobRecord] | None:
        found = {job_id: fetch_record(queue, job_id) for job_id in job_ids}
        return found if all(o.state in FINAL for o in found.values()) else None

    return wait_for(final, timeout, f"{len(job_ids)} job(s) to finish")  # type: ignore[return-value]


@pytest.fixture
def shared_queue(module_worker: WorkerProcess) -> Iterator[Queue]:
    """The queue the module's one worker serves."""
    with Redis.from_url(module_worker.redis_url) as connection:
        yield photo_queue(connection)


def test_photo_enqueued_as_the_bot_would_comes_back_classified(shared_queue: Queue) -> None:
    queue = shared_queue
    photo = noise_jpeg()
    first = enqueue_photo(queue, build_request(photo, "same-1")).id
    again = enqueue_photo(queue, build_request(photo, "same-2")).id
    done = outcomes(queue, [first, again])
    result, repeat = done[first].result, done[again].result
    assert isinstance(result, ClassifyResult) and isinstance(repeat, ClassifyResult)
    assert result.ok and result.error is None and result.request_id == "same-1"
    assert set(result.probabilities) == set(ALL_LABELS)
    assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
    assert result.hashtag in ALL_LABELS
    assert result.confidence == pytest.approx(result.probabilities[result.hashtag])
    assert result.suggested in (None, result.hashtag)
    assert result.model_version == file_version(served_model_path())
    assert result.tta == 1
    assert result.timings and result.timings.inference_ms > 0 and result.timings.decode_ms > 0
    # Deterministic: the same photo gives the same probabilities.
    assert repeat.probabilities == pytest.approx(result.probabilities, abs=1e-5)


def test_worker_publishes_what_its_model_can_suggest(module_worker: WorkerProcess) -> None:
    with Redis.from_url(module_worker.redis_url) as connection:
        info = ModelInfo.model_validate_json(connection.get(MODEL_INFO_KEY) or b"")
    assert info.model_version == file_version(served_model_path())
    # MiniPlaces has no photo of these tags' scenes: the model can never suggest them.
    assert info.tags and not {"science", "window", "sky", "other"} & set(info.tags)
    assert set(info.tags) <= set(ALL_LABELS) and info.tta >= 1


def test_every_bad_image_kind_gets_its_error_result(shared_queue: Queue) -> None:
    queue = shared_queue
    truncated = noise_jpeg()
    kinds = {
        "empty": (b"", ErrorCode.EMPTY),
        "random": (os.urandom(3000).replace(b"%", b"_"), ErrorCode.NOT_AN_IMAGE),
        "truncated": (truncated[: len(truncated) // 3], ErrorCode.CORRUPT),
        "bomb": (bomb_png(), ErrorCode.TOO_LARGE),
        "pdf": (b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n", ErrorCode.UNSUPPORTED),
        "good": (noise_jpeg(1), None),
    }
    job_ids = {name: enqueue_photo(queue, build_request(data, name)).id for name, (data, _) in kinds.items()}
    # A payload that violates the contract, as a buggy or hostile client could put on the queue.
    job_ids["violation"] = queue.enqueue("worker.jobs.classify_photo", {"request_id": "violation"}).id
    kinds["violation"] = (b"", ErrorCode.BAD_REQUEST)
    done = outcomes(queue, list(job_ids.values()))
    for name, (_, code) in kinds.items():
        outcome = done[job_ids[name]]
        assert outcome.state is JobState.DONE, (name, outcome)
        assert outcome.result is not None and outcome.result.error == code, (name, outcome.result)
        assert outcome.result.ok is (code is None)
    assert FailedJobRegistry(queue=queue).count == 0  # none raised, so none is retried


def test_sigterm_finishes_the_job_in_hand(
    worker_factory: StartWorker, redis_url: str, redis_conn: Redis
) -> None:
    worker = worker_factory(redis_url, BATCH_SIZE="2")
    queue = photo_queue(redis_conn)
    job_ids = [enqueue_photo(queue, build_request(noise_jpeg(i), f"p{i}", tta=8)).id for i in range(6)]
    started = StartedJobRegistry(queue=queue)
    in_hand = wait_for(started.get_job_ids, 60, "the worker to start a job")
    assert worker.terminate(timeout=60) == 0
    states = {job_id: fetch_record(queue, job_id).state for job_id in job_ids}
    assert all(states[job_id] is JobState.DONE for job_id in in_hand)  # type: ignore[union-attr]
    # What it had not taken is still queued for the next worker, not lost.
    assert set(queue.get_job_ids()) == {j for j, s in states.items() if s is JobState.PENDING}
    assert started.count == 0


def test_worker_killed_mid_job_loses_no_photo(
    worker_factory: StartWorker, redis_url: str, redis_conn: Redis
) -> None:
    queue = photo_queue(redis_conn)

    def enqueue(index: int, retries: int) -> str:
        request = build_request(noise_jpeg(index), f"p{index}", tta=16)
        return enqueue_photo(queue, request, job_timeout=8, retries=retries).id

    # Queued before the worker starts, so that it claims all eight into one batch (128 crops: seconds).
    retried = [enqueue(i, retries=1) for i in range(4)]
    not_retried = [enqueue(i, retries=0) for i in range(4, 8)]
    # Abandoned = job timeout (8 s) + grace (1 s) after the worker last touched the job.
    env = {"BATCH_SIZE": "8", "ABANDON_GRACE_S": "1", "MAINTENANCE_INTERVAL": "1"}
    doomed = worker_factory(redis_url, **env)
    started = StartedJobRegistry(queue=queue)
    wait_for(lambda: started.count == 8, 60, "the worker to claim all eight photos")
    doomed.kill()  # during decoding or the forward pass
    unfinished = {j for j in retried + not_retried if fetch_record(queue, j).state is JobState.PENDING}
    assert unfinished, "the worker finished before it was killed; the test proved nothing"

    # The next worker's registry cleanup finds them abandoned once their heartbeat has expired.
    worker_factory(redis_url, **env)
    done = outcomes(queue, retried + not_retried)
    for job_id in retried:
        assert done[job_id].state is JobState.DONE, done[job_id]
    for job_id in not_retried:
        outcome = done[job_id]
        if job_id in unfinished:
            assert outcome.state is JobState.FAILED, outcome
            assert outcome.reason and "AbandonedJobError" in outcome.reason
            assert job_id in FailedJobRegistry(queue=queue)
        else:
            assert outcome.state is JobState.DONE, outcome
    for job_id in set(retried) & unfinished:
        job = Job.fetch(job_id, connection=redis_conn, serializer=queue.serializer)
        assert job.retries_left == 0  # it was the retry that completed
    # The bot hears of each photo once, with its final outcome (worker.results): none waits for its deadline.
    published = {
        fields[b"job_id"].decode(): fields[b"status"].decode()
        for _, fields in redis_conn.xrange(RESULTS_STREAM)
    }
    assert redis_conn.xlen(RESULTS_STREAM) == len(published) == 8
    assert published == {
        job_id: "finished" if done[job_id].state is JobState.DONE else "failed" for job_id in done
    }


def test_worker_serves_again_after_redis_restarts_empty(
    worker_factory: StartWorker, redis_server: RedisServer, redis_url: str, redis_conn: Redis
) -> None:
    worker = worker_factory(redis_url)
    redis_server.stop()
    redis_server.start()  # no persistence in tests: every key is gone, the worker's registration too
    wait_for(worker.registered, 60, "the worker to register again")
    queue = photo_queue(redis_conn)
    job_id = enqueue_photo(queue, build_request(noise_jpeg(), "after-restart")).id
    outcome = outcomes(queue, [job_id])[job_id]
    assert outcome.state is JobState.DONE and outcome.result and outcome.result.ok


def test_rq_cli_runs_the_same_worker(redis_url: str, redis_conn: Redis, tmp_path: Path) -> None:
    """The README's `rq worker -w worker.batching.BatchingWorker ...` equivalent classifies photos too."""
    queue = photo_queue(redis_conn)
    job_ids = [enqueue_photo(queue, build_request(noise_jpeg(i), f"cli{i}")).id for i in range(3)]
    rq_cli = Path(sys.executable).with_name("rq")
    command = [str(rq_cli), "worker", "--burst", "--url", redis_url, "-w", "worker.batching.BatchingWorker"]
    command += ["--serializer", "rq.serializers.JSONSerializer", QUEUE_NAME]
    environment = {**os.environ, "MODEL_PATH": str(served_model_path()), "TTA": "1", "TORCH_THREADS": "1"}
    done = subprocess.run(
        command, env=environment, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-3000:]
    assert "claimed 2 more waiting job(s) for one batch" in log
    results = outcomes(queue, job_ids, timeout=5)
    assert all(o.state is JobState.DONE and o.result and o.result.ok for o in results.values())
