"""A deterministic stand-in for `ml.serving.inference.Classifier`, for testing the worker's plumbing
(decoding, batching, RQ bookkeeping) in-process without loading torch. End-to-end tests use the real model."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from ml.tags import ALL_LABELS, OTHER
from worker import jobs
from worker.engine import Engine
from worker.settings import WorkerSettings


@dataclass(frozen=True)
class FakePrediction:
    probabilities: dict[str, float]
    hashtag: str
    confidence: float
    suggested: str | None
    scenes: list[tuple[str, float]]
    suggestions: list[tuple[str, float]]


@dataclass
class FakeClassifier:
    """Says `sky` for blue-dominant photos and `other` otherwise; records every predict call."""

    name: str = "fake-colour"
    version: str = "0" * 12
    tags: list[str] = field(default_factory=lambda: ["sky"])
    input_size: int = 224  # what the worker publishes in ModelInfo
    calls: list[tuple[int, int]] = field(default_factory=list)  # (photos, tta) per predict call
    sizes: list[tuple[int, int]] = field(default_factory=list)  # every image's size, in order
    fail_with: Exception | None = None

    def predict(self, images: Sequence[Image.Image], tta: int = 1) -> list[FakePrediction]:
        self.calls.append((len(images), tta))
        self.sizes.extend(image.size for image in images)
        if self.fail_with is not None:
            raise self.fail_with
        return [self._one(image) for image in images]

    @staticmethod
    def _one(image: Image.Image) -> FakePrediction:
        r, g, b = np.asarray(image, dtype=float).reshape(-1, 3).mean(axis=0)
        label = "sky" if b > max(r, g) else OTHER
        probabilities = dict.fromkeys(ALL_LABELS, 0.1 / (len(ALL_LABELS) - 1))
        probabilities[label] = 0.9
        suggested = None if label == OTHER else label
        scenes = [(f"/s/{label}", 0.9), ("/a/abbey", 0.05)]
        offered = [(label, 0.9)] if suggested else []
        return FakePrediction(probabilities, label, 0.9, suggested, scenes, offered)


@contextmanager
def installed_fake(default_tta: int) -> Iterator[FakeClassifier]:
    """A FakeClassifier serving `worker.jobs` in this process, as the worker installs its real engine."""
    fake = FakeClassifier()
    engine = Engine(fake, default_tta=default_tta)  # type: ignore[arg-type]
    jobs.install(jobs.ModelService(WorkerSettings(), engine))
    try:
        yield fake
    finally:
        jobs.install(None)


def blue_jpeg() -> bytes:
    """A small JPEG the fake classifies as `sky`."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (0, 0, 255)).save(buffer, format="JPEG")
    return buffer.getvalue()
