"""bot.metrics: the labels of how a photo ended, what one answered photo adds, and the queue collector read
from a real redis-server at scrape time. The real bot serving them: tests/e2e/test_metrics_e2e.py."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY, CollectorRegistry
from redis import Redis
from rq import Worker

from bot import metrics
from tests.fake_classifier import blue_jpeg
from worker.contract import ClassifyResult, ErrorCode
from worker.queue import Classified, Failed, Outcome, TimedOut, build_request, enqueue_photo, photo_queue


def classified(**fields: object) -> Classified:
    result = ClassifyResult.model_validate({"request_id": "r", "model_version": "v2", **fields})
    return Classified(result, latency_ms=120.0)


@pytest.mark.parametrize(
    ("outcome", "labels"),
    [
        (classified(ok=True, suggested="cafe"), ("suggested", "v2")),
        (classified(ok=True, suggested=None), ("abstained", "v2")),
        (classified(ok=False, error=ErrorCode.CORRUPT), ("bad_image", "v2")),
        (classified(ok=False, error=ErrorCode.INTERNAL), ("failed", "v2")),
        (classified(ok=True, suggested="cafe", model_version=""), ("suggested", metrics.NO_MODEL)),
        (TimedOut(waited_s=60.0), ("timed_out", metrics.NO_MODEL)),
        (Failed(reason="AbandonedJobError"), ("failed", metrics.NO_MODEL)),
    ],
)
def test_photo_outcome_labels(outcome: Outcome, labels: tuple[str, str]) -> None:
    assert metrics.photo_outcome(outcome) == labels


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_an_answered_photo_counts_its_outcome_and_latency() -> None:
    outcome_labels = {"kind": "group", "outcome": "abstained", "model_version": "v2"}
    outcomes = sample("scenetag_photo_outcomes_total", **outcome_labels)
    answered = sample("scenetag_reply_latency_seconds_count", kind="group")
    seconds = sample("scenetag_reply_latency_seconds_sum", kind="group")
    fast = sample("scenetag_reply_latency_seconds_bucket", kind="group", le="2.0")
    metrics.count_answered("group", classified(ok=True, suggested=None), 2.5)
    assert sample("scenetag_photo_outcomes_total", **outcome_labels) == outcomes + 1
    assert sample("scenetag_reply_latency_seconds_count", kind="group") == answered + 1
    assert sample("scenetag_reply_latency_seconds_sum", kind="group") == pytest.approx(seconds + 2.5)
    assert sample("scenetag_reply_latency_seconds_bucket", kind="group", le="2.0") == fast  # 2.5 s is slower


def test_unanswered_photos_carry_no_model_version() -> None:
    before = sample("scenetag_photo_outcomes_total", kind="private", outcome="busy", model_version="none")
    metrics.count_unanswered("private", "busy")
    assert sample("scenetag_photo_outcomes_total", kind="private", outcome="busy", model_version="none") == (
        before + 1
    )


def queue_gauges(collector: metrics.QueueCollector) -> dict[str, float]:
    registry = CollectorRegistry()
    registry.register(collector)
    return {
        name: value
        for name in ("scenetag_queue_depth", "scenetag_queue_workers")
        if (value := registry.get_sample_value(name)) is not None
    }


def test_queue_collector_reads_depth_and_workers_at_scrape_time(redis_conn: Redis) -> None:
    queue = photo_queue(redis_conn)
    collector = metrics.QueueCollector(queue)
    assert queue_gauges(collector) == {"scenetag_queue_depth": 0, "scenetag_queue_workers": 0}
    for _ in range(2):
        enqueue_photo(queue, build_request(blue_jpeg()))
    worker = Worker([queue], connection=redis_conn)
    worker.register_birth()
    try:
        assert queue_gauges(collector) == {"scenetag_queue_depth": 2, "scenetag_queue_workers": 1}
    finally:
        worker.register_death()
    assert queue_gauges(collector)["scenetag_queue_workers"] == 0


def test_queue_collector_reads_redis_memory_and_its_limit(redis_conn: Redis) -> None:
    registry = CollectorRegistry()
    registry.register(metrics.QueueCollector(photo_queue(redis_conn)))
    info = redis_conn.info("memory")
    used = registry.get_sample_value("scenetag_redis_memory_used_bytes")
    assert used is not None and used > 0
    assert registry.get_sample_value("scenetag_redis_memory_max_bytes") == info["maxmemory"]


def test_queue_collector_leaves_the_gauges_out_when_redis_is_down() -> None:
    unreachable = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    assert queue_gauges(metrics.QueueCollector(photo_queue(unreachable))) == {}
