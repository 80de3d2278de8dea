"""The RQ job function `classify_photo` (`worker.contract.JOB_FUNCTION`) and the models it runs on.

The models are loaded once per worker process and kept (`install_engine`, the registry's versions through
`follow_registry`, or lazily MODEL_PATH from the environment under a plain `rq worker`). `BatchingWorker`
may classify several claimed jobs in one forward pass ahead of time (`classify_ahead`); each job's
`classify_photo` then returns its stored result, so every job still runs, succeeds or fails through RQ's own
`perform_job`. During a canary each job is answered by the engine its job id routes to
(`worker.models.Serving`); every result names the version that made it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from redis import Redis
from rq import get_current_job

from worker.contract import ModelInfo
from worker.engine import Engine
from worker.models import RegistryFollower, Serving
from worker.settings import WorkerSettings

logger = logging.getLogger(__name__)


@dataclass
class _ProcessState:
    serving: Serving | None = None
    follower: RegistryFollower | None = None  # created on the first `follow_registry`
    # Results classified ahead in a batch, by RQ job id, until their own job runs.
    ahead: dict[str, dict[str, object]] = field(default_factory=dict)


_state = _ProcessState()


def load_engine(settings: WorkerSettings, model_path: Path | None = None) -> Engine:
    """Load `model_path` (default: MODEL_PATH) on the configured device and backend with explicit CPU
    threads, and warm it up. SystemExit for a device or backend this machine cannot run; a bad file raises."""
    import torch

    from ml.serving.inference import choose_backend, resolve_device
    from ml.serving.loading import load_classifier

    torch.set_num_threads(settings.torch_threads)
    try:  # checked apart from loading, so a bad file (e.g. from the registry) is not called a bad setting
        choose_backend(settings.backend, resolve_device(settings.device).type)
    except ValueError as exc:
        raise SystemExit(
            f"configuration error: BACKEND: {exc}; set DEVICE=cpu or BACKEND=torch"
        ) from None
    classifier = load_classifier(model_path or settings.model_path, settings.device, settings.backend,
                                 settings.torch_threads, settings.onnx_cache_dir,
                                 precision=settings.precision)
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


def model_info(serving: Serving) -> ModelInfo:
    """What the bot's /help shows (the active model's tags), and the canary, for operators."""
    active = serving.active.classifier
    canary = serving.canary.classifier if serving.canary is not None else None
    return ModelInfo(model_name=active.name, model_version=active.version, tags=list(active.tags),
                     tta=serving.active.default_tta,
                     input_size=max(active.input_size, canary.input_size if canary else 0),
                     canary_version=canary.version if canary else None,
                     canary_name=canary.name if canary else None, canary_percent=serving.canary_percent)


def install_engine(engine: Engine | None) -> None:
    """Make `engine` the one every job of this process uses (None forgets it), until the registry says
    otherwise."""
    _state.serving = Serving(engine) if engine is not None else None
    _state.follower = None  # a new engine starts following the registry afresh
    _state.ahead.clear()


def current_serving() -> Serving:
    """The models in use, loading MODEL_PATH from the environment on first use (plain `rq worker`)."""
    if _state.serving is None:
        install_engine(load_engine(WorkerSettings.from_env()))
    assert _state.serving is not None
    return _state.serving


def load_models(connection: Redis) -> Serving:
    """The models to start with: the registry's active version (and canary), else MODEL_PATH."""
    follow_registry(connection)
    return current_serving()


def follow_registry(connection: Redis) -> bool:
    """Switch to the registry's active and canary versions if they changed (otherwise one GET): True when
    the models in use changed. Call it only between batches: results classified ahead stay as they were."""
    if _state.follower is None:
        settings = WorkerSettings.from_env()
        _state.follower = RegistryFollower(lambda path: load_engine(settings, path), settings.model_cache_dir)
    serving = _state.follower.update(connection, _state.serving)
    if serving is None:
        return False
    _state.serving = serving
    return True


def classify_ahead(payloads: Mapping[str, object]) -> None:
    """Classify the payloads of several jobs (job id -> payload) in one pass per engine, for their jobs to
    pick up."""
    serving = current_serving()
    engines = serving.by_version()
    groups: dict[str, dict[str, object]] = {}  # version -> the payloads it answers, by job id
    for job_id, payload in payloads.items():
        groups.setdefault(serving.engine_for(job_id).classifier.version, {})[job_id] = payload
    for version, group in groups.items():
        _state.ahead.update(zip(group, engines[version].classify(list(group.values())), strict=True))


def discard_ahead() -> None:
    """Drop results no job picked up (a job failed before its function ran)."""
    _state.ahead.clear()


def classify_photo(request: dict[str, object]) -> dict[str, object]:
    """RQ job: classify one photo. `request` is a `ClassifyRequest` dict; returns a `ClassifyResult` dict.

    A bad photo or payload returns an error result; only internal failures raise (RQ retries those)."""
    job = get_current_job()
    if job is not None and job.id in _state.ahead:
        return _state.ahead.pop(job.id)
    return current_serving().engine_for(job.id if job is not None else None).classify([request])[0]
