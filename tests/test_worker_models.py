"""worker.models and the worker's registry following, in-process with fake classifiers (real redis-server):
canary routing by job id, switching between batches, reuse of loaded models, and a bad file that leaves
the worker serving what it had."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer

from ml import registry
from ml.registry.store import blob_key
from ml.serving.model import file_version
from tests.fake_classifier import FakeClassifier, blue_jpeg
from tests.services import wait_for
from worker import jobs
from worker.batching import BatchingWorker
from worker.contract import MODEL_INFO_KEY, ModelInfo
from worker.engine import Engine
from worker.models import RegistryFollower, Serving, canary_bucket
from worker.queue import build_request, enqueue_photo, fetch_record, photo_queue
from worker.settings import WorkerSettings


def fake_engine(version: str) -> Engine:
    return Engine(FakeClassifier(version=version), default_tta=1)  # type: ignore[arg-type]


class Loader:
    """Stands in for `jobs.load_engine`: a fake engine named by the file's version, counting loads."""

    def __init__(self) -> None:
        self.loaded: list[str] = []

    def __call__(self, path: Path) -> Engine:
        version = file_version(path)
        self.loaded.append(version)
        return fake_engine(version)


def promote(connection: Redis, folder: Path, content: bytes, canary: int | None = None) -> str:
    """`ml promote` of a file holding `content` (the fake loader never parses it)."""
    path = folder / f"{uuid.uuid4().hex}.pt"
    path.write_bytes(content)
    version = file_version(path)
    registry.store(connection, path, version, "fake", {})
    if canary is None:
        registry.change(connection, lambda s: registry.promoted(s, version), prune=True)
    else:
        registry.change(connection, lambda s: registry.with_canary(s, version, canary), prune=True)
    return version


def settled(following: RegistryFollower, connection: Redis, current: Serving | None) -> Serving | None:
    """`update`, and once a background load is done `update` again: what the worker switches to."""
    serving = following.update(connection, current)
    wait_for(lambda: not following.loading, 30, "the model to load")
    return serving or following.update(connection, current)


# --- routing ---------------------------------------------------------------------------------------------


def test_canary_bucket_is_fixed_per_job_and_spread_evenly() -> None:
    ids = [f"job-{i}" for i in range(10_000)]
    buckets = [canary_bucket(job_id) for job_id in ids]
    assert buckets == [canary_bucket(job_id) for job_id in ids]  # a retried job meets the same model
    assert set(buckets) == set(range(100))
    share = sum(bucket < 10 for bucket in buckets) / len(buckets)
    assert 0.09 < share < 0.11


def test_each_job_goes_to_the_engine_its_bucket_names() -> None:
    active, canary = fake_engine("a" * 12), fake_engine("b" * 12)
    serving = Serving(active, canary, canary_percent=30)
    for job_id in (f"job-{i}" for i in range(300)):
        expected = canary if canary_bucket(job_id) < 30 else active
        assert serving.engine_for(job_id) is expected
    assert serving.engine_for(None) is active
    assert Serving(active).engine_for("job-1") is active


# --- following the registry ------------------------------------------------------------------------------


@pytest.fixture
def follower(tmp_path: Path) -> tuple[RegistryFollower, Loader]:
    loader = Loader()
    return RegistryFollower(loader, tmp_path / "cache"), loader


def test_nothing_promoted_keeps_model_path(
    redis_conn: Redis, follower: tuple[RegistryFollower, Loader]
) -> None:
    following, loader = follower
    current = Serving(fake_engine("m" * 12))
    assert following.update(redis_conn, current) is None
    assert following.update(redis_conn, None) is None
    assert loader.loaded == []


def test_a_promoted_version_is_loaded_once_and_kept(
    redis_conn: Redis, follower: tuple[RegistryFollower, Loader], tmp_path: Path
) -> None:
    following, loader = follower
    current = Serving(fake_engine("m" * 12))
    version = promote(redis_conn, tmp_path, b"model a")
    serving = settled(following, redis_conn, current)
    assert serving is not None and serving.active.classifier.version == version and serving.canary is None
    assert following.update(redis_conn, serving) is None  # unchanged generation: one GET, nothing loaded
    candidate = promote(redis_conn, tmp_path, b"model b", canary=10)
    with_canary = settled(following, redis_conn, serving)
    assert with_canary is not None and with_canary.active is serving.active  # the loaded engine, reused
    assert with_canary.canary is not None and with_canary.canary.classifier.version == candidate
    assert with_canary.canary_percent == 10
    assert loader.loaded == [version, candidate]


def test_the_old_models_serve_while_a_new_one_loads(redis_conn: Redis, tmp_path: Path) -> None:
    release = threading.Event()

    def slow(path: Path) -> Engine:
        release.wait(30)
        return fake_engine(file_version(path))

    following = RegistryFollower(slow, tmp_path / "cache")
    current = Serving(fake_engine("m" * 12))
    version = promote(redis_conn, tmp_path, b"model a")
    assert following.update(redis_conn, current) is None and following.loading
    assert following.update(redis_conn, current) is None  # between batches: still loading, keep serving
    release.set()
    serving = settled(following, redis_conn, current)
    assert serving is not None and serving.active.classifier.version == version


def test_a_corrupt_file_keeps_the_old_model(
    redis_conn: Redis,
    follower: tuple[RegistryFollower, Loader],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    following, loader = follower
    current = Serving(fake_engine("m" * 12))
    path = tmp_path / "model.pt"
    path.write_bytes(b"model a")
    version = file_version(path)
    registry.store(redis_conn, path, version, "fake", {})
    redis_conn.set(blob_key(version), b"model a, damaged in transit")
    registry.change(redis_conn, lambda s: registry.promoted(s, version))
    assert settled(following, redis_conn, current) is None
    assert loader.loaded == [] and "corrupt" in caplog.text
    assert following.update(redis_conn, current) is None  # not fetched again until the next change
    assert caplog.text.count("corrupt") == 1


def test_a_file_that_does_not_load_keeps_the_old_model(
    redis_conn: Redis, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(path: Path) -> Engine:
        raise ValueError(f"{path}: not a scenetag model file")

    following = RegistryFollower(broken, tmp_path / "cache")
    promote(redis_conn, tmp_path, b"model a")
    assert settled(following, redis_conn, Serving(fake_engine("m" * 12))) is None
    assert "does not load" in caplog.text and "not a scenetag model file" in caplog.text


def test_a_bad_canary_leaves_the_active_model_serving_alone(
    redis_conn: Redis, tmp_path: Path, follower: tuple[RegistryFollower, Loader]
) -> None:
    following, _ = follower
    active = promote(redis_conn, tmp_path, b"model a")
    candidate = promote(redis_conn, tmp_path, b"model b", canary=50)
    redis_conn.set(blob_key(candidate), b"garbage")
    serving = following.update(redis_conn, None)
    assert serving is not None and serving.active.classifier.version == active
    assert serving.canary is None and serving.engine_for("any-job") is serving.active


# --- the worker: switching between batches, routing each job ----------------------------------------------


@pytest.fixture
def queue(redis_conn: Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Queue]:
    """The photo queue, served in-process by fake engines: MODEL_PATH's is version m...m, the registry's
    versions load as fake engines of their own version."""
    loader = Loader()
    monkeypatch.setattr(jobs, "load_engine", lambda settings, path=None: loader(path))
    monkeypatch.setenv("MODEL_CACHE_DIR", str(tmp_path / "cache"))
    jobs.install(jobs.ModelService(WorkerSettings(), fake_engine("m" * 12)))
    yield photo_queue(redis_conn)
    jobs.install(None)


def run_burst(queue: Queue) -> None:
    BatchingWorker([queue], connection=queue.connection, serializer=JSONSerializer).work(burst=True)


def switched(connection: Redis) -> None:
    """Follow the registry as the worker does between batches, until the promoted models are loaded."""
    wait_for(lambda: jobs.installed().follow_registry(connection), 30,
             "the worker to load the promoted models")


def versions_of(queue: Queue, job_ids: list[str]) -> dict[str, str]:
    results = {job_id: fetch_record(queue, job_id).result for job_id in job_ids}
    assert all(result is not None and result.ok for result in results.values())
    return {job_id: result.model_version for job_id, result in results.items()}  # type: ignore[union-attr]


def enqueue(queue: Queue, n: int, prefix: str) -> list[str]:
    photo = blue_jpeg()
    return [enqueue_photo(queue, build_request(photo, f"{prefix}{i}"), job_id=f"{prefix}{i}").id
            for i in range(n)]


def test_the_worker_serves_what_was_promoted_and_says_so(queue: Queue, tmp_path: Path) -> None:
    connection = queue.connection
    before = enqueue(queue, 3, "before-")
    run_burst(queue)
    assert set(versions_of(queue, before).values()) == {"m" * 12}
    version = promote(connection, tmp_path, b"model a")
    switched(connection)
    after = enqueue(queue, 3, "after-")
    run_burst(queue)
    assert set(versions_of(queue, after).values()) == {version}
    info = ModelInfo.model_validate_json(connection.get(MODEL_INFO_KEY) or b"")
    assert (info.model_version, info.canary_version, info.tags) == (version, None, ["sky"])
    assert info.input_size == 224  # the bot downloads the Telegram copy that fits it


def test_a_canary_answers_exactly_the_jobs_its_share_routes_to_it(queue: Queue, tmp_path: Path) -> None:
    connection = queue.connection
    active = promote(connection, tmp_path, b"model a")
    candidate = promote(connection, tmp_path, b"model b", canary=25)
    switched(connection)
    job_ids = enqueue(queue, 40, "canary-")
    run_burst(queue)
    versions = versions_of(queue, job_ids)
    expected = {job_id: candidate if canary_bucket(job_id) < 25 else active for job_id in job_ids}
    assert versions == expected
    assert active in versions.values() and candidate in versions.values()  # both really served
    info = ModelInfo.model_validate_json(connection.get(MODEL_INFO_KEY) or b"")
    assert (info.model_version, info.canary_version, info.canary_percent) == (active, candidate, 25)
