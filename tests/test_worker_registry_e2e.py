"""The real worker process following the model registry while photos flow: `ml promote` on a running
system loses no photo and later results carry the new version, `ml rollback` switches back, a canary
answers exactly the jobs its share routes to it, and a corrupt file leaves the worker serving its models."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue
from rq.job import Job

from ml import registry
from ml.cli import main as ml
from ml.registry.store import blob_key
from ml.serving.model import file_version
from tests.fake_classifier import blue_jpeg
from tests.ml_support import make_tiny_model
from tests.services import StartWorker, WorkerProcess, wait_for
from worker.contract import MODEL_INFO_KEY, ModelInfo
from worker.models import canary_bucket
from worker.queue import JobRecord, JobState, build_request, enqueue_photo, fetch_record, photo_queue

pytestmark = pytest.mark.slow
PHOTO = blue_jpeg()


@pytest.fixture
def models(tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Three tiny model files (different random weights, so three versions); `ml` runs on `redis_url`."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.chdir(tmp_path)
    return [make_tiny_model(tmp_path / f"model-{i}.pt") for i in range(3)]


@pytest.fixture
def worker(worker_factory: StartWorker, redis_url: str, models: list[Path], tmp_path: Path) -> WorkerProcess:
    """A real worker serving models[0] from MODEL_PATH, with its own model and ONNX caches."""
    return worker_factory(redis_url, model_path=models[0], MODEL_CACHE_DIR=str(tmp_path / "models"),
                          ONNX_CACHE_DIR=str(tmp_path / "onnx"))


def model_info(connection: Redis) -> ModelInfo | None:
    raw = connection.get(MODEL_INFO_KEY)
    return ModelInfo.model_validate_json(raw) if raw else None


def wait_serving(connection: Redis, version: str, canary: str | None = None) -> None:
    """Until the worker says it serves `version` (and `canary`): it published that after switching."""
    def switched() -> bool:
        info = model_info(connection)
        return info is not None and (info.model_version, info.canary_version) == (version, canary)

    wait_for(switched, 120, f"the worker to serve {version} (canary {canary})", interval=0.2)


def finished(queue: Queue, job_ids: list[str]) -> dict[str, JobRecord]:
    """Every job's outcome once none is pending; each must be a classified photo."""
    def final() -> dict[str, JobRecord] | None:
        found = {job_id: fetch_record(queue, job_id) for job_id in job_ids}
        return found if all(o.state is not JobState.PENDING for o in found.values()) else None

    done: dict[str, JobRecord] = wait_for(final, 180, f"{len(job_ids)} photos")  # type: ignore[assignment]
    failed = {job_id: o for job_id, o in done.items() if o.state is not JobState.DONE or not o.result.ok}
    assert failed == {}, "photos lost or failed"
    return done


def versions(queue: Queue, job_ids: list[str]) -> dict[str, str]:
    return {job_id: o.result.model_version for job_id, o in finished(queue, job_ids).items()}  # type: ignore[union-attr]


def enqueue(queue: Queue, prefix: str, n: int) -> list[str]:
    return [enqueue_photo(queue, build_request(PHOTO, f"{prefix}{i}"), job_id=f"{prefix}{i}").id
            for i in range(n)]


class Feeder:
    """Enqueues a photo every 20 ms from a thread, as users keep sending them, until stopped."""

    def __init__(self, redis_url: str) -> None:
        self.job_ids: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(redis_url,))

    def _run(self, redis_url: str) -> None:
        with Redis.from_url(redis_url) as connection:
            queue = photo_queue(connection)
            while not self._stop.wait(0.02):
                self.job_ids.append(enqueue_photo(queue, build_request(PHOTO, "fed")).id)

    def __enter__(self) -> Feeder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_promote_under_load_loses_no_photo_and_rollback_switches_back(
    worker: WorkerProcess, models: list[Path], queue: Queue, redis_conn: Redis, redis_url: str
) -> None:
    incumbent, candidate = file_version(models[0]), file_version(models[1])
    assert ml(["promote", str(models[0])]) == 0  # what the worker already serves: nothing to switch
    wait_serving(redis_conn, incumbent)

    with Feeder(redis_url) as feeder:
        wait_for(lambda: len(feeder.job_ids) >= 20, 60, "photos in flight")
        assert ml(["promote", str(models[1])]) == 0
        wait_serving(redis_conn, candidate)
        switched_at = len(feeder.job_ids)
        wait_for(lambda: len(feeder.job_ids) >= switched_at + 20, 60, "photos after the switch")
    served = versions(queue, feeder.job_ids)
    assert set(served.values()) == {incumbent, candidate}
    # One switch, between batches: in the order the worker finished them, the old model's results, then
    # only the new one's; every photo sent after the worker said it switched has the new version.
    jobs = sorted(Job.fetch_many(feeder.job_ids, connection=redis_conn, serializer=queue.serializer),
                  key=lambda job: job.ended_at)  # type: ignore[arg-type, return-value]
    order = [served[job.id] for job in jobs]  # type: ignore[union-attr]
    first_new = order.index(candidate)
    assert set(order[first_new:]) == {candidate}
    assert {served[job_id] for job_id in feeder.job_ids[switched_at:]} == {candidate}

    assert ml(["rollback"]) == 0
    wait_serving(redis_conn, incumbent)
    assert set(versions(queue, enqueue(queue, "after-rollback-", 5)).values()) == {incumbent}
    assert worker.process.poll() is None


def test_canary_share_is_exact_and_a_corrupt_file_changes_nothing(
    worker: WorkerProcess, models: list[Path], queue: Queue, redis_conn: Redis
) -> None:
    incumbent, candidate = file_version(models[0]), file_version(models[1])
    assert ml(["promote", str(models[0])]) == 0
    assert ml(["promote", str(models[1]), "--canary", "30"]) == 0
    wait_serving(redis_conn, incumbent, canary=candidate)
    job_ids = enqueue(queue, "canary-", 40)
    expected = {job_id: candidate if canary_bucket(job_id) < 30 else incumbent for job_id in job_ids}
    assert versions(queue, job_ids) == expected
    assert set(expected.values()) == {incumbent, candidate}  # the known ids exercise both models

    # A third version whose stored bytes were damaged: the worker refuses it and keeps both models.
    damaged = file_version(models[2])
    registry.store(redis_conn, models[2], damaged, "tiny", {})
    redis_conn.setrange(blob_key(damaged), 100, b"\x00\xff" * 8)
    registry.change(redis_conn, lambda s: registry.promoted(s, damaged))
    wait_for(lambda: "corrupt, not used" in worker.log(), 60, "the worker to refuse the damaged file")
    job_ids = enqueue(queue, "after-damage-", 20)
    expected = {job_id: candidate if canary_bucket(job_id) < 30 else incumbent for job_id in job_ids}
    assert versions(queue, job_ids) == expected
    assert model_info(redis_conn).canary_version == candidate  # type: ignore[union-attr]
    assert worker.process.poll() is None
