"""The RQ job function `classify_photo` (`worker.contract.JOB_FUNCTION`) and the models it runs on.

The models are loaded once per worker process and kept in its `ModelService` (built by scenetag-worker's
`main`, or lazily from the environment under a plain `rq worker`), which follows the registry's versions.
`BatchingWorker` may classify several claimed jobs in one forward pass ahead of time (`classify_ahead`);
each job's `classify_photo` then returns its stored result, so every job still runs, succeeds or fails
through RQ's own `perform_job`. During a canary each job is answered by the engine its job id routes to
(`worker.models.Serving`); every result names the version that made it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from redis import Redis
from rq import get_current_job

from config import configuration_error
from worker.contract import ModelInfo
from worker.engine import Engine
from worker.models import RegistryFollower, Serving
from worker.settings import WorkerSettings

logger = logging.getLogger(__name__)


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
            configuration_error("BACKEND", f"{exc}; set DEVICE=cpu or BACKEND=torch")
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


class ModelService:
    """The models one worker process serves, built once: by scenetag-worker's `main` from its settings, or
    on first use from the environment under a plain `rq worker`. It follows the registry between batches with
    those same settings and keeps the results classified ahead until their own jobs run."""

    def __init__(self, settings: WorkerSettings, engine: Engine | None = None) -> None:
        self.settings = settings
        self._serving = Serving(engine) if engine is not None else None
        self._follower: RegistryFollower | None = None  # created on the first `follow_registry`
        self._ahead: dict[str, dict[str, object]] = {}  # results classified in a batch, by RQ job id

    @property
    def serving(self) -> Serving:
        """The models in use, loading MODEL_PATH on first use."""
        if self._serving is None:
            self._serving = Serving(load_engine(self.settings))
        return self._serving

    def load(self, connection: Redis) -> Serving:
        """The models to start with: the registry's active version (and canary), else MODEL_PATH."""
        self.follow_registry(connection)
        return self.serving

    def follow_registry(self, connection: Redis) -> bool:
        """Switch to the registry's active and canary versions if they changed (otherwise one GET): True
        when the models in use changed. Call it only between batches: results classified ahead stay."""
        if self._follower is None:
            settings = self.settings
            self._follower = RegistryFollower(lambda path: load_engine(settings, path),
                                              settings.model_cache_dir)
        serving = self._follower.update(connection, self._serving)
        if serving is None:
            return False
        self._serving = serving
        return True

    def classify_ahead(self, payloads: Mapping[str, object]) -> None:
        """Classify the payloads of several jobs (job id -> payload) in one pass per engine, for their jobs
        to pick up."""
        serving = self.serving
        engines = serving.by_version()
        groups: dict[str, dict[str, object]] = {}  # version -> the payloads it answers, by job id
        for job_id, payload in payloads.items():
            groups.setdefault(serving.engine_for(job_id).classifier.version, {})[job_id] = payload
        for version, group in groups.items():
            self._ahead.update(zip(group, engines[version].classify(list(group.values())), strict=True))

    def discard_ahead(self) -> None:
        """Drop results no job picked up (a job failed before its function ran)."""
        self._ahead.clear()

    def classify(self, job_id: str | None, request: dict[str, object]) -> dict[str, object]:
        """The result of job `job_id`: classified ahead in its batch, else now by the engine it routes to."""
        if job_id is not None and job_id in self._ahead:
            return self._ahead.pop(job_id)
        return self.serving.engine_for(job_id).classify([request])[0]


# The service RQ's module-level job function reaches: one per worker process (RQ calls `classify_photo` by
# its dotted path, so the worker registers the service it owns here at bootstrap).
_installed: ModelService | None = None


def install(service: ModelService | None) -> None:
    """Make `service` the one every job of this process uses (None forgets it)."""
    global _installed  # noqa: PLW0603 - the one per-process registration RQ's function lookup needs
    _installed = service


def installed() -> ModelService:
    """This process's service, built from the environment on first use (plain `rq worker`)."""
    if _installed is None:
        install(ModelService(WorkerSettings.from_env()))
    assert _installed is not None
    return _installed


def classify_photo(request: dict[str, object]) -> dict[str, object]:
    """RQ job: classify one photo. `request` is a `ClassifyRequest` dict; returns a `ClassifyResult` dict.

    A bad photo or payload returns an error result; only internal failures raise (RQ retries those)."""
    job = get_current_job()
    return installed().classify(job.id if job is not None else None, request)
