"""worker.engine: payloads in, contract results out; bad photos become error results, batches share passes."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from ml.serving.images import DecodeLimits
from ml.tags import ALL_LABELS
from tests.fake_classifier import FakeClassifier, FakePrediction
from worker.contract import ClassifyResult, ErrorCode, TagScore, Timings
from worker.engine import Engine, build_result, decode_payload, queue_wait_ms
from worker.queue import build_request

BLUE, RED = (0, 0, 255), (255, 0, 0)


def photo(colour: tuple[int, int, int] = BLUE, fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), colour).save(buffer, format=fmt)
    return buffer.getvalue()


def payload(data: bytes, request_id: str = "r1", tta: int | None = None, submitted_at: float = 100.0) -> dict:
    return build_request(data, request_id, tta=tta, submitted_at=submitted_at).model_dump(mode="json")


def engine(classifier: FakeClassifier | None = None, now: float = 100.5, **kwargs: object) -> Engine:
    return Engine(classifier or FakeClassifier(), default_tta=8, clock=lambda: now, **kwargs)  # type: ignore[arg-type]


def test_a_photo_is_classified_with_every_field_of_the_contract() -> None:
    (raw,) = engine().classify([payload(photo(BLUE), tta=2)])
    result = ClassifyResult.model_validate(raw)
    assert result.ok and result.error is None
    assert (result.hashtag, result.suggested, result.confidence) == ("sky", "sky", pytest.approx(0.9))
    assert [(s.tag, s.probability) for s in result.suggestions] == [("sky", pytest.approx(0.9))]
    assert set(result.probabilities) == set(ALL_LABELS)
    assert result.scenes[0].scene == "/s/sky"
    assert (result.request_id, result.model_name, result.tta) == ("r1", "fake-colour", 2)
    assert result.timings is not None
    assert result.timings.queue_wait_ms == pytest.approx(500.0)
    assert result.timings.decode_ms > 0


def test_default_tta_applies_when_the_request_leaves_it_out() -> None:
    classifier = FakeClassifier()
    (raw,) = engine(classifier).classify([payload(photo())])
    assert raw["tta"] == 8
    assert classifier.calls == [(1, 8)]


def test_big_jpegs_are_decoded_no_smaller_than_min_side() -> None:
    classifier = FakeClassifier()
    buffer = io.BytesIO()
    Image.new("RGB", (1280, 960), BLUE).save(buffer, format="JPEG")
    engine(classifier, min_side=448).classify([payload(buffer.getvalue())])
    assert classifier.sizes == [(640, 480)]


def test_abstains_on_other() -> None:
    (raw,) = engine().classify([payload(photo(RED))])
    assert raw["ok"] and raw["hashtag"] == "other" and raw["suggested"] is None and raw["suggestions"] == []


def test_batch_is_one_forward_pass_per_tta_and_keeps_order() -> None:
    classifier = FakeClassifier()
    payloads = [
        payload(photo(BLUE), "a"),
        payload(b"", "empty"),
        payload(photo(RED), "b", tta=1),
        payload(photo(RED, "PNG"), "c"),
    ]
    results = engine(classifier).classify(payloads)
    assert [r["request_id"] for r in results] == ["a", "empty", "b", "c"]
    assert [r["hashtag"] for r in results] == ["sky", None, "other", "other"]
    assert sorted(classifier.calls) == [(1, 1), (2, 8)]  # the empty photo never reaches the model
    assert [r["timings"]["batch_photos"] for r in results] == [2, 0, 1, 2]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", ErrorCode.EMPTY),
        (b"just some text, not a photo", ErrorCode.NOT_AN_IMAGE),
        (photo()[:200], ErrorCode.CORRUPT),
        (b"%PDF-1.4 ...", ErrorCode.UNSUPPORTED),
    ],
)
def test_bad_photos_become_error_results(data: bytes, code: ErrorCode) -> None:
    classifier = FakeClassifier()
    (raw,) = engine(classifier).classify([payload(data)])
    result = ClassifyResult.model_validate(raw)
    assert (result.ok, result.error) == (False, code)
    assert result.error_detail and result.probabilities == {}
    assert classifier.calls == []


def test_oversized_payload_is_refused_before_decoding() -> None:
    limits = DecodeLimits(max_bytes=100)
    (raw,) = engine(limits=limits).classify([payload(photo())])
    assert raw["error"] == ErrorCode.TOO_LARGE


@pytest.mark.parametrize(
    "bad",
    [
        {"request_id": "x"},  # fields missing
        {**payload(b"x", "x"), "version": 99},
        {**payload(b"x", "x"), "tta": 1000},
        {**payload(b"x", "x"), "unexpected": 1},
        ["not", "a", "dict"],
    ],
)
def test_contract_violations_are_bad_request_results(bad: object) -> None:
    (raw,) = engine().classify([bad])
    assert (raw["ok"], raw["error"]) == (False, ErrorCode.BAD_REQUEST)
    assert raw["request_id"] in {"x", "?"}


def test_invalid_base64_is_bad_request() -> None:
    bad = {**payload(photo()), "image_b64": "***not base64***"}
    (raw,) = engine().classify([bad])
    assert raw["error"] == ErrorCode.BAD_REQUEST


def test_model_failure_raises_so_rq_can_retry() -> None:
    classifier = FakeClassifier(fail_with=RuntimeError("CUDA out of memory"))
    with pytest.raises(RuntimeError, match="out of memory"):
        engine(classifier).classify([payload(photo())])


def test_queue_wait_is_clamped_for_clock_skew() -> None:
    ahead = decode_payload(payload(photo(), submitted_at=200.0), 1, DecodeLimits())
    assert queue_wait_ms(150.0, ahead) == 0.0
    assert queue_wait_ms(200.25, ahead) == pytest.approx(250.0)


def test_request_roundtrip_keeps_bytes() -> None:
    data = photo()
    request = build_request(data, "id")
    assert base64.b64decode(request.image_b64) == data


def test_a_ranked_list_reaches_the_result_best_first() -> None:
    classifier = FakeClassifier()
    listed = FakePrediction(dict.fromkeys(ALL_LABELS, 0.0) | {"cafe": 0.5, "bar": 0.4}, "cafe", 0.5, "cafe",
                            [], [("cafe", 0.5), ("bar", 0.4)])
    photo_ = decode_payload(payload(photo()), 1, DecodeLimits())
    result = build_result(photo_, listed, classifier, Timings(queue_wait_ms=0, decode_ms=0, inference_ms=0))
    again = ClassifyResult.model_validate(result.model_dump(mode="json"))
    assert [(s.tag, s.probability) for s in again.suggestions] == [("cafe", 0.5), ("bar", 0.4)]
    assert again.suggested == "cafe"


def test_a_result_of_an_older_worker_offers_its_one_suggested_tag() -> None:
    older = {"request_id": "r", "ok": True, "hashtag": "cafe", "confidence": 0.7, "suggested": "cafe",
             "probabilities": {"cafe": 0.7, "bar": 0.3}}
    assert ClassifyResult.model_validate(older).suggestions == [TagScore(tag="cafe", probability=0.7)]
    assert ClassifyResult.model_validate({**older, "suggested": None}).suggestions == []
