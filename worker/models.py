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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from ml.registry import RegistryError, RegistryState, fetch, read_generation, read_state
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
    """Follows the registry's state for one worker process; `load` turns a model file into a warm engine."""

    def __init__(self, load: Callable[[Path], Engine], cache_dir: Path) -> None:
        self.load = load
        self.cache_dir = cache_dir
        self.generation = 0  # the last registry generation acted on (0: nothing promoted yet)

    def update(self, connection: Redis, current: Serving | None) -> Serving | None:
        """What to serve now, when the registry changed since the last call and it differs from `current`;
        None to keep `current` (or, with no `current`, to serve MODEL_PATH)."""
        try:
            if read_generation(connection) == self.generation:
                return None
            state = read_state(connection)
            serving = self._serving(connection, state, current)
        except RedisError as exc:  # tried again at the next call
            logger.warning("model registry unreadable, keeping the models in hand: %s", exc)
            return None
        # A version that failed is not fetched again per batch; the next promote or rollback retries.
        self.generation = state.generation
        if serving is None or (current is not None and same(serving, current)):
            return None
        logger.info("serving %s", describe_serving(serving))
        return serving

    def _serving(self, connection: Redis, state: RegistryState, current: Serving | None) -> Serving | None:
        loaded = current.by_version() if current is not None else {}
        if state.active is None:
            return None
        active = self._engine(connection, state.active, loaded)
        if active is None:
            return None
        canary = self._engine(connection, state.canary, loaded) if state.canary else None
        return Serving(active, canary, state.canary_percent if canary is not None else 0)

    def _engine(self, connection: Redis, version: str, loaded: dict[str, Engine]) -> Engine | None:
        if version in loaded:
            return loaded[version]
        try:
            path = fetch(connection, version, self.cache_dir)
            return self.load(path)
        except RegistryError as exc:
            logger.error("not switching to model %s: %s", version, exc)
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
