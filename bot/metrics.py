"""The bot's Prometheus metrics, served on METRICS_PORT (default 9101) from `post_init` (`bot.app`).

- `scenetag_photos_received_total{kind}`: photos that reached a handler, private or group.
- `scenetag_photo_outcomes_total{kind, outcome, model_version}`: how each photo ended (`photo_outcome`):
  suggested, abstained (no popular tag fits), bad_image, failed, timed_out (worker's side); busy (Redis or
  no worker at submit), rate_limited (over a private or a group flood limit: not classified); skipped (a group
  photo moderation does not check).
  model_version is the version of the model that classified the photo, "none" when none did.
- `scenetag_reply_latency_seconds{kind}`: from the bot accepting a photo to its answer sent, in
  whichever bot process answered it.
- `scenetag_flags_total{action}`: moderation actions taken: flag, delete, record (dry-run).
- `scenetag_feedback_total{kind}`: 👍 (up), 👎 (down), the tag picked after 👎 or from a ranked list after
  👍 (corrected) and admins' "not spam" (not_spam) recorded.
- `scenetag_database_errors_total{kind}`: answers to private or group photos the database failed (logged
  with the traceback; a group flag then is not recorded, and nothing is deleted without a record).
- `scenetag_queue_depth`, `scenetag_queue_workers`: photos waiting on the RQ queue and the workers
  registered on it, read from Redis at scrape time (`QueueCollector`). Exported by the bot because it sees
  them when no worker runs; with several bot replicas, aggregate them with max().
- `scenetag_redis_memory_used_bytes`, `scenetag_redis_memory_max_bytes`: Redis's `used_memory` and its
  `maxmemory` (0: no limit), from INFO at scrape time: the RedisMemoryHigh alert fires before Redis, with
  `noeviction`, refuses writes (new photos are then answered "busy").
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Literal

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from rq import Queue

from bot.pending import PhotoKind
from worker.queue import Classified, Outcome, TimedOut, live_workers

logger = logging.getLogger(__name__)

NO_MODEL = "none"  # the model_version label of a photo no model classified
# How a photo ends before it reaches the worker (the others: `ClassifyResult.outcome`, timed_out, failed).
Unanswered = Literal["busy", "rate_limited", "bad_image", "failed", "skipped", "known_spam"]
METRICS_SERVER_KEY = "metrics_server"  # bot_data: the `config.exposition.MetricsServer` post_init started

PHOTOS_RECEIVED = Counter(
    "scenetag_photos_received_total", "Photos that reached the bot's handlers", ["kind"]
)
PHOTO_OUTCOMES = Counter(
    "scenetag_photo_outcomes_total",
    "How each received photo ended, with the version of the model that classified it",
    ["kind", "outcome", "model_version"],
)
REPLY_LATENCY = Histogram(
    "scenetag_reply_latency_seconds",
    "Seconds from the bot accepting a photo to its answer being sent",
    ["kind"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120),
)
FLAGS = Counter("scenetag_flags_total", "Moderation actions taken on group photos", ["action"])
DATABASE_ERRORS = Counter(
    "scenetag_database_errors_total", "Photo answers that failed on the database, by photo kind", ["kind"]
)
FEEDBACK = Counter("scenetag_feedback_total", "Feedback recorded: up, down, corrected, not_spam", ["kind"])


def photo_outcome(outcome: Outcome) -> tuple[str, str]:
    """(outcome, model_version) labels of what the worker's side made of an accepted photo."""
    match outcome:
        case Classified(result=result):
            return result.outcome, result.model_version or NO_MODEL
        case TimedOut():
            return "timed_out", NO_MODEL
    return "failed", NO_MODEL  # Failed: the job raised with no retry left, or its worker died


def count_received(kind: PhotoKind) -> None:
    PHOTOS_RECEIVED.labels(kind).inc()


def count_unanswered(kind: PhotoKind, outcome: Unanswered) -> None:
    """A photo that ended before the worker (bad_image: too large to fetch; failed: the download failed)."""
    PHOTO_OUTCOMES.labels(kind, outcome, NO_MODEL).inc()


def count_answered(kind: PhotoKind, outcome: Outcome, latency_s: float) -> None:
    PHOTO_OUTCOMES.labels(kind, *photo_outcome(outcome)).inc()
    REPLY_LATENCY.labels(kind).observe(latency_s)


def count_flag(action: str) -> None:
    FLAGS.labels(action).inc()


def count_database_error(kind: PhotoKind) -> None:
    DATABASE_ERRORS.labels(kind).inc()


def count_feedback(kind: str) -> None:
    FEEDBACK.labels(kind).inc()


class QueueCollector(Collector):
    """`scenetag_queue_depth`, `scenetag_queue_workers` and Redis's memory, read from Redis when Prometheus
    scrapes. When Redis does not answer, all are left out of that scrape (an alert on them sees no data)."""

    def __init__(self, queue: Queue) -> None:
        self._queue = queue

    def describe(self) -> list[GaugeMetricFamily]:
        return self.families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            depth, workers = self._queue.count, live_workers(self._queue)  # as the bot's "is any worker up?"
            memory = self._queue.connection.info("memory")
        except RedisError as error:
            logger.warning("metrics: queue unavailable: %s", error)
            return
        yield from self.families(depth, workers, (int(memory["used_memory"]), int(memory["maxmemory"])))

    @staticmethod
    def families(
        depth: int | None = None, workers: int | None = None, memory: tuple[int, int] | None = None
    ) -> list[GaugeMetricFamily]:
        """The gauges, with these values (memory: used and max bytes), or empty (what `describe` returns)."""
        queued = GaugeMetricFamily("scenetag_queue_depth", "Photos waiting on the worker queue")
        registered = GaugeMetricFamily("scenetag_queue_workers", "Workers registered on the queue")
        used = GaugeMetricFamily("scenetag_redis_memory_used_bytes", "Memory Redis uses (INFO used_memory)")
        limit = GaugeMetricFamily("scenetag_redis_memory_max_bytes", "Redis's maxmemory; 0 = no limit")
        if depth is not None and workers is not None and memory is not None:
            queued.add_metric([], depth)
            registered.add_metric([], workers)
            used.add_metric([], memory[0])
            limit.add_metric([], memory[1])
        return [queued, registered, used, limit]
