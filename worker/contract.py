"""The versioned job contract between the bot and the worker.

The bot enqueues `classify_photo(request_dict)` on the queue `QUEUE_NAME` with RQ's JSONSerializer
(pickle would let anyone who can write to Redis run code in the worker); the job returns a
`ClassifyResult` dict. Both sides validate with these models, so a change here that either side's older
code would refuse or misread is a change of `CONTRACT_VERSION`; a result field added with a default is not
(older bots ignore it; results of older workers get the default, e.g. `ClassifyResult.suggestions`). This
module imports nothing heavy (no torch): the bot depends on it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

CONTRACT_VERSION = 1
QUEUE_NAME = "scenetag"
# Dotted path of the job function, so the bot need not import the worker's torch code.
JOB_FUNCTION = "worker.jobs.classify_photo"
# Where each worker publishes `ModelInfo` at start and after each model switch (the bot's /help lists
# the tags from it).
MODEL_INFO_KEY = "scenetag:model-info"
# Every photo job's final outcome is appended to this Redis Stream (a `ResultEntry`) by the RQ callbacks in
# `worker.results` (dotted paths, so RQ's JSON job data can name them); bot processes read it in a
# consumer group.
RESULTS_STREAM = "scenetag:results"
# Approximate cap on the Redis Streams (XADD MAXLEN ~): the results and the bot's recorded updates. Readers
# acknowledge within seconds, so only entries nobody read for a long while are trimmed; the bot's deadline
# sweep answers those.
STREAM_MAX_ENTRIES = 100_000
SUCCESS_CALLBACK = "worker.results.publish_success"
FAILURE_CALLBACK = "worker.results.publish_failure"


class ErrorCode(StrEnum):
    """Why a photo could not be classified; the bot phrases each one for the user."""

    EMPTY = "empty"  # zero bytes
    NOT_AN_IMAGE = "not_an_image"  # no decoder recognises the bytes
    CORRUPT = "corrupt"  # recognised but truncated or broken
    TOO_LARGE = "too_large"  # byte size or pixel count over the limit (decompression bomb)
    UNSUPPORTED = "unsupported"  # a format or mode we do not decode (e.g. video, PDF)
    BAD_REQUEST = "bad_request"  # the payload itself violates this contract
    INTERNAL = "internal"  # a bug or resource failure in the worker


# The errors that are the photo's own (the user is told what is wrong with it), not a failure of ours.
PHOTO_ERRORS = frozenset(
    {ErrorCode.EMPTY, ErrorCode.NOT_AN_IMAGE, ErrorCode.CORRUPT, ErrorCode.TOO_LARGE, ErrorCode.UNSUPPORTED}
)


class ClassifyRequest(BaseModel):
    """What the bot puts on the queue for one photo."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = CONTRACT_VERSION  # contract version the bot speaks
    request_id: str = Field(min_length=1, max_length=128)  # the bot's id, echoed back for logs
    image_b64: str  # the photo's bytes exactly as Telegram served them, base64
    submitted_at: float  # unix time the bot enqueued it; the worker measures queue wait from it
    tta: int | None = Field(default=None, ge=1, le=32)  # test-time copies; None = the worker's TTA


class SceneScore(BaseModel):
    """One fine scene class (SUN397 name) and its probability."""

    model_config = ConfigDict(frozen=True)

    scene: str  # e.g. "/c/coffee_shop"
    probability: float


class TagScore(BaseModel):
    """One scene hashtag offered for a photo, and its probability."""

    model_config = ConfigDict(frozen=True)

    tag: str = Field(description="A scene hashtag, without '#'.")
    probability: float = Field(description="The model's probability of that tag.")


class Timings(BaseModel):
    """Where the time went, in milliseconds."""

    model_config = ConfigDict(frozen=True)

    queue_wait_ms: float  # from submitted_at to the worker starting the job
    decode_ms: float  # bytes -> RGB image
    inference_ms: float  # the model's forward passes (the whole batch's when batched)
    batch_photos: int = 1  # photos that shared those forward passes


class ClassifyResult(BaseModel):
    """What the job returns: either a classification (ok) or an error code the bot can phrase."""

    model_config = ConfigDict(frozen=True)

    version: Literal[1] = CONTRACT_VERSION
    request_id: str
    ok: bool
    error: ErrorCode | None = None  # set when not ok
    error_detail: str | None = None  # short English detail for logs, never shown raw to users
    probabilities: dict[str, float] = Field(default_factory=dict)  # every label in ml.tags.ALL_LABELS
    hashtag: str | None = None  # argmax label, may be "other"
    confidence: float = 0.0  # probability of `hashtag`
    suggested: str | None = None  # the tag to suggest (the best of `suggestions`), or None when abstaining
    # What to offer, best first: one sure tag, or a ranked list of up to 3 when none is sure alone
    # (`ml.serving.inference.ranked_suggestions`); [] when the model abstains.
    suggestions: list[TagScore] = Field(default_factory=list)
    scenes: list[SceneScore] = Field(default_factory=list)  # top scene classes, best first
    model_name: str = ""  # e.g. "efficientnet-lite0-sun100"
    model_version: str = ""  # content hash of the model file
    tta: int = 1  # copies actually averaged
    timings: Timings | None = None

    @model_validator(mode="before")
    @classmethod
    def _suggestions_of_older_workers(cls, data: object) -> object:
        """A result from a worker that predates `suggestions` (the field is additive, so the contract
        version stays): its one suggested tag is the list."""
        if isinstance(data, dict) and "suggestions" not in data and data.get("suggested"):
            tag = data["suggested"]
            probability = data.get("probabilities", {}).get(tag, data.get("confidence", 0.0))
            return {**data, "suggestions": [{"tag": tag, "probability": probability}]}
        return data

    @property
    def outcome(self) -> str:
        """suggested, abstained (no popular tag fits), bad_image (`PHOTO_ERRORS`) or failed (ours); the
        bot's and the worker's metrics count photos by it."""
        if self.ok:
            return "suggested" if self.suggested else "abstained"
        return "bad_image" if self.error in PHOTO_ERRORS else "failed"


class ModelInfo(BaseModel):
    """What the serving model can do, published by each worker when it starts and when it switches models."""

    model_config = ConfigDict(frozen=True)

    model_name: str  # the active model's
    model_version: str
    tags: list[str]  # the tags it can suggest (ml.tags order); a tag without training photos never is
    tta: int  # the worker's default test-time copies
    # The side in px of the square the model sees (the larger of the active's and the canary's): the bot
    # downloads the smallest Telegram copy whose short side reaches it (ml.photo_sizes). None: older worker.
    input_size: int | None = None
    canary_version: str | None = None  # a candidate answering `canary_percent` % of photos (`ml promote`)
    canary_name: str | None = None
    canary_percent: int = 0


class ResultEntry(BaseModel):
    """A photo job's final outcome on `RESULTS_STREAM`: its result when it finished, why when it failed."""

    model_config = ConfigDict(frozen=True)

    version: Literal[1] = CONTRACT_VERSION  # entries of workers before this field had none: read as 1
    job_id: str = Field(min_length=1)
    status: Literal["finished", "failed"]
    result: ClassifyResult | None = None  # finished: what the job returned (may itself be an error result)
    reason: str = ""  # failed: the exception, for logs only

    @model_validator(mode="after")
    def _result_when_finished(self) -> Self:
        if (self.status == "finished") != (self.result is not None):
            raise ValueError("a finished entry carries a result, and only a finished one")
        return self

    def to_fields(self) -> dict[str, str]:
        """The stream entry's fields (Redis Streams hold flat strings: the result is its JSON)."""
        fields = {"version": str(self.version), "job_id": self.job_id, "status": self.status}
        if self.result is not None:
            fields["result"] = self.result.model_dump_json()
        else:
            fields["reason"] = self.reason
        return fields

    @classmethod
    def from_fields(cls, fields: Mapping[bytes, bytes]) -> ResultEntry:
        """The entry as read from the stream. One this contract cannot read (a result that violates it, an
        unknown version or status) is its job's failure, so the photo is still answered; an entry without a
        job id raises `ValidationError` (it names no photo to answer)."""
        text = {key.decode(): value.decode() for key, value in fields.items()}
        try:
            version = int(text.get("version", CONTRACT_VERSION))
            result = json.loads(text["result"]) if "result" in text else None
            return cls.model_validate({**text, "version": version, "result": result})
        except ValueError as error:  # pydantic's ValidationError is one, as are a broken number and JSON
            reason = f"entry violates the contract: {error}"
            return cls(job_id=text.get("job_id", ""), status="failed", reason=reason)
