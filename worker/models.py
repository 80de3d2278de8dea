"""The models a worker answers with, and how it follows the registry (`ml promote`, `ml rollback`).

`Serving` is the active engine and, during a canary, the candidate's engine with its share of photos; each
photo goes to one of them by its RQ job id (`canary_bucket`), so a retried job meets the same model and the
share is exact over many photos. `RegistryFollower` turns the registry's state into a `Serving`: one GET of
the generation when nothing changed; otherwise it downloads the new versions (hash-checked), loads and warms
them up, and reuses the engines it already has. A version that cannot be fetched or loaded is logged and the
worker keeps what it serves. Knows nothing of RQ's loop: `worker.batching` calls it between batches.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from ml.registry import (
    RegistryError,
    RegistryState,
    fetch,
    kept_versions,
    prune_cache,
    read_generation,
    read_state,
)
from worker.engine import Engine

logger = logging.getLogger(__name__)

CANARY_BUCKETS = 100  # a canary's share is a whole percent


def canary_bucket(job_id: str) -> int:
    """0-99 from the sha256 of a job id: uniform over random ids, and always the same for one id."""
    return int.from_bytes(hashlib.sha256(job_id.encode()).digest()[:8], "big") % CANARY_BUCKETS


@dataclass(frozen=True)
class Serving:
    """The engines a worker answers with."""

    active: Engine
    canary: Engine | None = None
    canary_percent: int = 0  # share of photos (by job id) the canary answers

    def engine_for(self, job_id: str | None) -> Engine:
        """The engine that answers this job (the active one when there is no job id)."""
        if self.canary is not None and job_id is not None and canary_bucket(job_id) < self.canary_percent:
            return self.canary
        return self.active

    def by_version(self) -> dict[str, Engine]:
        engines = [self.active] + ([self.canary] if self.canary is not None else [])
        return {engine.classifier.version: engine for engine in engines}


class RegistryFollower:
    """Follows the registry's state for one worker process; `load` turns a model file into a warm engine.

    New versions load in a background thread while the worker goes on answering with the models it has
    (loading can take a minute: a download, an ONNX export, a warm-up), so photos never wait for it, and
    workers that all notice a promote at once do not all stop serving at once. Only the first models, when
    the worker has none yet, load in the caller's thread."""

    def __init__(self, load: Callable[[Path], Engine], cache_dir: Path) -> None:
        self.load = load
        self.cache_dir = cache_dir
        self.generation = 0  # the last registry generation acted on (0: nothing promoted yet)
        # The generation to go back to if the load fails for want of Redis (so it is tried again), and the
        # load's outcome.
        self._loading: tuple[int, Future[Serving | None]] | None = None

    @property
    def loading(self) -> bool:
        """A load runs in the background (its outcome is taken at the next `update`)."""
        return self._loading is not None and not self._loading[1].done()

    def update(self, connection: Redis, current: Serving | None) -> Serving | None:
        """What to serve now, once the registry changed since the last call, its versions are loaded and
        they differ from `current`; None to keep `current` (or, with no `current`, to serve MODEL_PATH)."""
        if self._loading is not None:
            return self._loaded(current)
        previous = self.generation
        try:
            if read_generation(connection) == previous:
                return None
            state = read_state(connection)
        except RedisError as exc:
            logger.warning("model registry unreadable, keeping the models in hand: %s", exc)
            return None
        # A version that fails to fetch or load is not tried per batch again; the next change retries it.
        self.generation = state.generation
        loaded = current.by_version() if current is not None else {}
        outcome: Future[Serving | None] = Future()
        self._loading = (previous, outcome)
        missing = [v for v in (state.active, state.canary) if v is not None and v not in loaded]
        if current is not None and missing:
            logger.info("loading model(s) %s; serving %s meanwhile", ", ".join(missing),
                        describe_serving(current))
            threading.Thread(target=self._serving, args=(connection, state, loaded, outcome), daemon=True,
                             name="model-loader").start()
            return None
        self._serving(connection, state, loaded, outcome)
        return self._loaded(current)

    def _loaded(self, current: Serving | None) -> Serving | None:
        """The outcome of the load under way, once it is done (None while it is not, or when it failed)."""
        assert self._loading is not None
        previous, outcome = self._loading
        if not outcome.done():
            return None
        self._loading = None
        try:
            serving = outcome.result()
        except RedisError as exc:
            self.generation = previous  # try again at the next call
            logger.warning("model registry unreadable, keeping the models in hand: %s", exc)
            return None
        if serving is None or (current is not None and same(serving, current)):
            return None
        logger.info("serving %s", describe_serving(serving))
        return serving

    def _serving(
        self,
        connection: Redis,
        state: RegistryState,
        loaded: dict[str, Engine],
        outcome: Future[Serving | None],
    ) -> None:
        """Set `outcome` to the engines `state` names (reusing `loaded` ones), or None when its active version
        cannot be had; a canary that cannot be had is left out."""
        try:
            active = self._engine(connection, state.active, loaded) if state.active else None
            canary = None
            if active is not None and state.canary is not None:
                canary = self._engine(connection, state.canary, loaded)
        except BaseException as exc:  # handed to the worker's thread, which decides
            outcome.set_exception(exc)
            return
        prune_cache(self.cache_dir, kept_versions(state))
        if active is None:
            outcome.set_result(None)
        else:
            outcome.set_result(Serving(active, canary, state.canary_percent if canary is not None else 0))

    def _engine(self, connection: Redis, version: str, loaded: dict[str, Engine]) -> Engine | None:
        """The engine of `version`: loaded already, or fetched and loaded now; None (logged) when its file
        is corrupt, missing or does not load. A RedisError propagates, so the change is tried again."""
        if version in loaded:
            return loaded[version]
        try:
            path = fetch(connection, version, self.cache_dir)
        except RegistryError as exc:
            logger.error("not switching to model %s: %s", version, exc)
            return None
        try:
            return self.load(path)
        except Exception:
            logger.exception("not switching to model %s: it does not load", version)
            return None


def same(a: Serving, b: Serving) -> bool:
    return (a.active is b.active and a.canary is b.canary and a.canary_percent == b.canary_percent)


def describe_serving(serving: Serving) -> str:
    active = serving.active.classifier
    text = f"model {active.name} ({active.version})"
    if serving.canary is not None:
        text += f", canary {serving.canary.classifier.version} on {serving.canary_percent} % of photos"
    return text
