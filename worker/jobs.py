"""The RQ job function `classify_photo` (`worker.contract.JOB_FUNCTION`) and the engine it runs on.

The model is loaded once per worker process and kept (`install_engine`, or lazily from the
environment under a plain `rq worker`). `BatchingWorker` may classify several claimed jobs in one
forward pass ahead of time (`classify_ahead`); each job's `classify_photo` then returns its stored
result, so every job still runs, succeeds or fails through RQ's own `perform_job`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from rq import get_current_job

from worker.contract import ModelInfo
from worker.engine import Engine
from worker.settings import WorkerSettings

logger = logging.getLogger(__name__)


@dataclass
class _ProcessState:
    engine: Engine | None = None
    # Results classified ahead in a batch, by RQ job id, until their own job runs.
    ahead: dict[str, dict[str, object]] = field(default_factory=dict)


_state = _ProcessState()


def load_engine(settings: WorkerSettings) -> Engine:
    """Load the model on the configured device and backend with explicit CPU threads, and warm it up."""
    import torch

    from ml.serving.loading import load_classifier

    torch.set_num_threads(settings.torch_threads)
    try:
        classifier = load_classifier(settings.model_path, settings.device, settings.backend,
                                     settings.torch_threads, settings.onnx_cache_dir)
    except ValueError as exc:
        raise SystemExit(
            f"configuration error: BACKEND: {exc}; set DEVICE=cpu or BACKEND=torch"
        ) from None
    classifier.warmup()
    tta = settings.tta or classifier.spec.recommended_tta
    logger.info(
        "model %s (%s) on %s with %s, input %d px, TTA %d, %d threads",
        classifier.name,
        classifier.version,
        classifier.device,
        classifier.backend,
        classifier.input_size,
        tta,
        settings.torch_threads,
    )
    # Twice the model's input: TTA crops of >= 90 % of the photo still resize down, never up.
    return Engine(classifier, default_tta=tta, min_side=2 * classifier.input_size)


def model_info(engine: Engine) -> ModelInfo:
    classifier = engine.classifier
    return ModelInfo(model_name=classifier.name, model_version=classifier.version, tags=list(classifier.tags),
                     tta=engine.default_tta)


def install_engine(engine: Engine | None) -> None:
    """Make `engine` the one every job of this process uses (None forgets it)."""
    _state.engine = engine
    _state.ahead.clear()


def current_engine() -> Engine:
    """The installed engine, loading it from the environment on first use (plain `rq worker`)."""
    if _state.engine is None:
        install_engine(load_engine(WorkerSettings.from_env()))
    assert _state.engine is not None
    return _state.engine


def classify_ahead(payloads: Mapping[str, object]) -> None:
    """Classify the payloads of several jobs (job id -> payload) in one pass, for their jobs to pick up."""
    results = current_engine().classify(list(payloads.values()))
    _state.ahead.update(zip(payloads, results, strict=True))


def discard_ahead() -> None:
    """Drop results no job picked up (a job failed before its function ran)."""
    _state.ahead.clear()


def classify_photo(request: dict[str, object]) -> dict[str, object]:
    """RQ job: classify one photo. `request` is a `ClassifyRequest` dict; returns a `ClassifyResult` dict.

    A bad photo or payload returns an error result; only internal failures raise (RQ retries those)."""
    job = get_current_job()
    if job is not None and job.id in _state.ahead:
        return _state.ahead.pop(job.id)
    return current_engine().classify([request])[0]
