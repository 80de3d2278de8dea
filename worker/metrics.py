"""The worker's Prometheus metrics, served on METRICS_PORT (default 9102) by `scenetag-worker`.

- `scenetag_worker_photos_total{outcome, model_version}`: photo jobs finished, by final outcome
  (`ClassifyResult.outcome`): suggested, abstained, bad_image, failed. Counted by the RQ callbacks in
  `worker.results`, so a retried job counts once, when RQ gives up or it succeeds.
- `scenetag_worker_batch_size`: photos per forward pass (`worker.engine`).
- `scenetag_model_info{model_name, model_version}`: 1 for each model this worker serves (the active one and,
  during a canary, the candidate), 0 for one it switched away from (`ml promote`, `ml rollback`).

The queue's depth and the workers registered on it are exported by the bot (`bot.metrics`), which sees
them also when no worker runs. Serving: `config.exposition`.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import Counter, Gauge, Histogram
from pydantic import ValidationError

from worker.contract import ClassifyResult, ModelInfo

NO_MODEL = "none"  # the model_version label of a job that failed before a model classified it

PHOTOS = Counter(
    "scenetag_worker_photos_total",
    "Photo jobs finished by this worker, by outcome and the model version that classified them",
    ["outcome", "model_version"],
)
BATCH_SIZE = Histogram(
    "scenetag_worker_batch_size",
    "Photos classified in one forward pass",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
# livemax: in multi-process mode a version shows while a live process serves it.
MODEL_INFO = Gauge(
    "scenetag_model_info",
    "1 for each model this worker serves (the active one, a canary)",
    ["model_name", "model_version"],
    multiprocess_mode="livemax",
)


def worker_outcome(result: Mapping[str, object]) -> tuple[str, str]:
    """(outcome, model_version) of the `ClassifyResult` dict a job returned (`ClassifyResult.outcome`)."""
    try:
        parsed = ClassifyResult.model_validate(result)
    except ValidationError:
        return "failed", NO_MODEL
    return parsed.outcome, parsed.model_version or NO_MODEL


def count_result(result: Mapping[str, object]) -> None:
    PHOTOS.labels(*worker_outcome(result)).inc()


def count_failure() -> None:
    """A job RQ failed for good (it raised with no retry left, or its worker died)."""
    PHOTOS.labels("failed", NO_MODEL).inc()


# The (model_name, model_version) labels this process last set to 1.
_serving: set[tuple[str, str]] = set()


def record_serving_model(info: ModelInfo) -> None:
    """The models this worker serves now; those it served before drop to 0 (in multi-process mode a label
    is never removed, only set)."""
    now = {(info.model_name, info.model_version)}
    if info.canary_version is not None:
        now.add((info.canary_name or "", info.canary_version))
    for labels in _serving - now:
        MODEL_INFO.labels(*labels).set(0)
    for labels in now:
        MODEL_INFO.labels(*labels).set(1)
    _serving.clear()
    _serving.update(now)
