"""The worker's inference engine: contract requests in, contract results out, many photos per forward pass.

It owns the loaded model (loaded once per process), decodes each photo with `ml.serving.images`, runs one
`predict` call per TTA value present in the batch, and assembles `ClassifyResult`s. Every bad photo
or malformed request becomes an error *result*; only internal/transient failures (e.g. out of
memory) raise, so that RQ's Retry applies to them alone. Knows nothing of RQ.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from PIL import Image
from pydantic import ValidationError

from ml.serving.images import DEFAULT_LIMITS, DecodeLimits, ImageError, decode_image
from worker import metrics
from worker.contract import ClassifyRequest, ClassifyResult, ErrorCode, SceneScore, TagScore, Timings

logger = logging.getLogger(__name__)

TOP_SCENES = 5  # scene classes returned per photo, best first


class PredictionLike(Protocol):
    """What `ml.serving.inference.Prediction` provides for one photo."""

    probabilities: Mapping[str, float]
    hashtag: str
    confidence: float
    suggested: str | None
    scenes: Sequence[tuple[str, float]]
    suggestions: Sequence[tuple[str, float]]


class SceneClassifier(Protocol):
    """What `ml.serving.inference.Classifier` provides; the engine needs nothing else."""

    name: str
    version: str
    tags: list[str]  # the tags it can suggest

    def predict(self, images: Sequence[Image.Image], tta: int = 1) -> Sequence[PredictionLike]: ...


@dataclass(frozen=True)
class Photo:
    """One job payload after parsing and decoding: an image to classify, or already an error."""

    request_id: str
    tta: int
    submitted_at: float | None  # None when the payload was not a valid request
    image: Image.Image | None
    error: tuple[ErrorCode, str] | None
    decode_ms: float


class Engine:
    """Classifies batches of contract payloads with one loaded model."""

    def __init__(
        self,
        classifier: SceneClassifier,
        default_tta: int,
        limits: DecodeLimits = DEFAULT_LIMITS,
        min_side: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.classifier = classifier
        self.default_tta = default_tta
        self.limits = limits
        self.min_side = min_side  # photos may be decoded smaller, down to this side (ml.serving.images)
        self._clock = clock

    def classify(self, payloads: Sequence[object]) -> list[dict[str, object]]:
        """Classify job payloads (dicts as dequeued) into result dicts, in order. Raises only on
        internal failures of the model itself."""
        started_at = self._clock()
        photos = [
            decode_payload(payload, self.default_tta, self.limits, self.min_side) for payload in payloads
        ]
        inference = self._predict_groups(photos)
        results = []
        for index, photo in enumerate(photos):
            prediction, inference_ms, batch_photos = inference.get(index, (None, 0.0, 0))
            timings = Timings(
                queue_wait_ms=queue_wait_ms(started_at, photo),
                decode_ms=photo.decode_ms,
                inference_ms=inference_ms,
                batch_photos=batch_photos,
            )
            result = build_result(photo, prediction, self.classifier, timings)
            results.append(result.model_dump(mode="json"))
        return results

    def _predict_groups(self, photos: Sequence[Photo]) -> dict[int, tuple[PredictionLike, float, int]]:
        """One predict call per distinct TTA among the decodable photos:
        index -> (prediction, milliseconds of its call, photos in its call)."""
        by_tta: dict[int, list[int]] = {}
        for index, photo in enumerate(photos):
            if photo.image is not None:
                by_tta.setdefault(photo.tta, []).append(index)
        out: dict[int, tuple[PredictionLike, float, int]] = {}
        for tta, indices in by_tta.items():
            images = [photos[i].image for i in indices]
            begin = time.perf_counter()
            predictions = self.classifier.predict(images, tta=tta)  # type: ignore[arg-type]
            elapsed_ms = (time.perf_counter() - begin) * 1000
            metrics.BATCH_SIZE.observe(len(indices))
            if len(predictions) != len(indices):
                raise RuntimeError(f"model returned {len(predictions)} predictions for {len(indices)} photos")
            for index, prediction in zip(indices, predictions, strict=True):
                out[index] = (prediction, elapsed_ms, len(indices))
        return out


def build_result(
    photo: Photo,
    prediction: PredictionLike | None,
    classifier: SceneClassifier,
    timings: Timings,
) -> ClassifyResult:
    """The contract result for one photo: its prediction, or its error when it had none."""
    common = {
        "request_id": photo.request_id,
        "model_name": classifier.name,
        "model_version": classifier.version,
        "tta": photo.tta,
        "timings": timings,
    }
    if prediction is None:
        code, detail = photo.error or (ErrorCode.INTERNAL, "the model returned no prediction")
        return ClassifyResult(ok=False, error=code, error_detail=detail, **common)  # type: ignore[arg-type]
    return ClassifyResult(
        ok=True,
        probabilities={label: float(p) for label, p in prediction.probabilities.items()},
        hashtag=prediction.hashtag,
        confidence=float(prediction.confidence),
        suggested=prediction.suggested,
        suggestions=[TagScore(tag=tag, probability=float(p)) for tag, p in prediction.suggestions],
        scenes=[SceneScore(scene=s, probability=float(p)) for s, p in list(prediction.scenes)[:TOP_SCENES]],
        **common,  # type: ignore[arg-type]
    )


def queue_wait_ms(started_at: float, photo: Photo) -> float:
    """Milliseconds from the bot's enqueue to the worker's start, clamped at 0 (clocks differ a little)."""
    if photo.submitted_at is None:
        return 0.0
    return max(0.0, (started_at - photo.submitted_at) * 1000)


def decode_payload(
    payload: object, default_tta: int, limits: DecodeLimits, min_side: int | None = None
) -> Photo:
    """Validate a job payload against the contract and decode its photo, timing it. A contract
    violation, bad base64 or a bad image becomes a `Photo` carrying the error code."""
    begin = time.perf_counter()
    try:
        request = ClassifyRequest.model_validate(payload)
    except ValidationError as exc:
        request_id = payload.get("request_id") if isinstance(payload, dict) else None
        detail = f"payload violates the contract: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}"
        error = (ErrorCode.BAD_REQUEST, detail)
        return Photo(str(request_id or "?")[:128], 1, None, None, error, 0.0)
    image, error = None, None
    # Checked on the text, before allocating the decoded bytes: 4 base64 chars per 3 bytes.
    if len(request.image_b64) > (limits.max_bytes + 2) // 3 * 4:
        error = (ErrorCode.TOO_LARGE, f"payload over the {limits.max_bytes}-byte limit")
    else:
        try:
            image = decode_image(base64.b64decode(request.image_b64, validate=True), limits, min_side)
        except binascii.Error as exc:
            error = (ErrorCode.BAD_REQUEST, f"image_b64 is not base64: {exc}")
        except ImageError as exc:
            error = (ErrorCode(exc.code.value), exc.detail)
    decode_ms = (time.perf_counter() - begin) * 1000
    tta = request.tta or default_tta
    return Photo(request.request_id, tta, request.submitted_at, image, error, decode_ms)
