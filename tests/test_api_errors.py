"""The API's error shape and wording, its settings' defaults, and the response bodies it builds."""

from __future__ import annotations

import pytest

from bot.i18n import text
from bot.replies import error_text
from ml.serving.images import DEFAULT_MAX_BYTES
from ml.tags import ALL_LABELS
from moderation.verdict import Action, ModerationSettings, Reason, Sensitivity, Verdict
from web.api.errors import (
    BUSY_MESSAGE,
    RATE_LIMITED_MESSAGE,
    TIMEOUT_MESSAGE,
    ApiErrorCode,
    image_error,
    invalid_request,
)
from web.api.schemas import check, classification, runner_ups
from web.api.settings import ApiSettings
from worker.contract import ClassifyResult, ErrorCode, TagScore


@pytest.mark.parametrize("code", list(ErrorCode))
def test_image_errors_use_the_bots_english_words(code: ErrorCode) -> None:
    assert image_error(code).message == error_text(code, "en")


def test_the_apis_own_errors_use_the_bots_words_too() -> None:
    assert (text("busy", "en"), text("timeout", "en")) == (BUSY_MESSAGE, TIMEOUT_MESSAGE)
    assert RATE_LIMITED_MESSAGE.format(seconds=7) == text("rate_limited", "en", seconds=7)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (ErrorCode.EMPTY, 422),
        (ErrorCode.NOT_AN_IMAGE, 415),
        (ErrorCode.CORRUPT, 422),
        (ErrorCode.TOO_LARGE, 413),
        (ErrorCode.UNSUPPORTED, 415),
        (ErrorCode.BAD_REQUEST, 500),  # a request the API built broke the contract: our fault
        (ErrorCode.INTERNAL, 500),
        (None, 500),  # the job raised
    ],
)
def test_image_error_statuses(code: ErrorCode | None, status: int) -> None:
    error = image_error(code)
    assert error.status == status
    assert error.code == (code if status != 500 else ErrorCode.INTERNAL)


def test_an_error_response_is_the_documented_shape() -> None:
    response = image_error(ErrorCode.EMPTY).response()
    assert response.status_code == 422
    assert response.body == b'{"error":{"code":"empty","message":"This file is empty."}}'


def test_validation_errors_become_one_line_naming_the_fields() -> None:
    error = invalid_request(
        [
            {"loc": ("body", "caption"), "msg": "Field required"},
            {"loc": ("body", "min_hashtags"), "msg": "Input should be greater than or equal to 1"},
        ]
    )
    assert (error.status, error.code) == (422, ApiErrorCode.INVALID_REQUEST)
    assert error.message == (
        "caption: Field required; min_hashtags: Input should be greater than or equal to 1"
    )


def test_the_upload_limit_defaults_to_the_workers_byte_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/")  # no developer .env
    assert ApiSettings().api_max_upload_bytes == DEFAULT_MAX_BYTES
    monkeypatch.setenv("API_MAX_UPLOAD_BYTES", "1000")
    monkeypatch.setenv("API_RATE_LIMIT_PER_MINUTE", "")  # empty: the default
    assert (ApiSettings().api_max_upload_bytes, ApiSettings().api_rate_limit_per_minute) == (1000, 60)


def result(**probabilities: float) -> ClassifyResult:
    full = dict.fromkeys(ALL_LABELS, 0.0) | probabilities
    top = max(full, key=full.__getitem__)
    return ClassifyResult(
        request_id="r1", ok=True, probabilities=full, hashtag=top, confidence=full[top], suggested=None,
        model_name="m", model_version="v1",
    )


def test_runner_ups_are_the_next_tags_best_first_never_other() -> None:
    ranked = runner_ups({"cafe": 0.5, "other": 0.2, "bar": 0.1, "home": 0.1, "art": 0.05, "sky": 0.0}, "cafe")
    assert [(item.tag, item.probability) for item in ranked] == [("bar", 0.1), ("home", 0.1), ("art", 0.05)]


def test_classification_keeps_the_workers_fields_and_says_when_it_abstained() -> None:
    body = classification(result(other=0.6, cafe=0.3, bar=0.1))
    assert (body.hashtag, body.suggested, body.abstained) == ("other", None, True)
    assert [item.tag for item in body.runner_ups] == ["cafe", "bar"]
    assert body.model_version == "v1" and body.probabilities["cafe"] == 0.3
    assert "ok" not in body.model_dump() and "error" not in body.model_dump()
    assert body.suggestions == []


def test_classification_carries_a_ranked_list_best_first() -> None:
    listed = result(cafe=0.48, bar=0.37, other=0.15).model_copy(update={"suggested": "cafe", "suggestions": [
        TagScore(tag="cafe", probability=0.48), TagScore(tag="bar", probability=0.37)]})
    body = classification(listed).model_dump(mode="json")
    assert body["suggestions"] == [{"tag": "cafe", "probability": 0.48}, {"tag": "bar", "probability": 0.37}]
    assert (body["suggested"], body["abstained"]) == ("cafe", False)


def test_check_reports_the_verdict_and_what_judged_it() -> None:
    settings = ModerationSettings(enabled=True, sensitivity=Sensitivity.LENIENT)
    verdict = Verdict(Action.FLAG, Reason.MISMATCH, ("beach",), 0.0004)
    body = check(["beach", "love"], verdict, settings, result(cafe=0.9, water=0.0004))
    assert (body.spam, body.reason, body.threshold) == (True, Reason.MISMATCH, 0.001)
    assert (body.scene_hashtags, body.predicted_tag, body.model_version) == (["beach"], "cafe", "v1")
    not_judged = check(["beach"], Verdict(Action.NONE, Reason.TOO_FEW_HASHTAGS), settings, None)
    assert (not_judged.spam, not_judged.predicted_tag, not_judged.compatible_probability) == (
        False,
        None,
        None,
    )
