"""The API's response bodies (described field by field in the OpenAPI docs) and the pure functions that
build them from the worker's `ClassifyResult` and the moderation `Verdict`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, Field

from ml.tags import OTHER
from moderation.verdict import ModerationSettings, Reason, Sensitivity, Verdict
from worker.contract import ClassifyResult, SceneScore, TagScore, Timings

MAX_RUNNER_UPS = 3


class Classification(BaseModel):
    """The worker's result (`worker.contract.ClassifyResult`, the job contract the bot reads too) for a
    classified photo, with `abstained` and `runner_ups` added."""

    version: int = Field(description="Version of the worker's job contract.")
    request_id: str = Field(description="The job's id, as the worker logs it.")
    hashtag: str = Field(description="The most probable label, without '#'; may be `other` (no popular tag).")
    confidence: float = Field(description="Probability of `hashtag`.")
    suggested: str | None = Field(
        description="The tag to suggest, or null when the model abstains: better no tag than a wrong one. "
        "The best of `suggestions`."
    )
    suggestions: list[TagScore] = Field(
        description="What to offer, best first: one sure tag, or, when no single tag is sure enough, a "
        "ranked list of up to three (never `other`) that holds the right one as often as the model file's "
        "rule promises; empty when the model abstains."
    )
    abstained: bool = Field(description="True when `suggested` is null (`suggestions` is empty).")
    runner_ups: list[TagScore] = Field(
        description=f"Up to {MAX_RUNNER_UPS} next most probable tags (not `hashtag` nor `other`), best first."
    )
    probabilities: dict[str, float] = Field(description="Every label's probability (they sum to 1).")
    scenes: list[SceneScore] = Field(description="The most probable fine scene classes, best first.")
    model_name: str = Field(description="The served model's architecture and label set.")
    model_version: str = Field(description="Content hash of the served model file.")
    tta: int = Field(description="Test-time copies averaged.")
    timings: Timings | None = Field(description="Where the worker's time went, in milliseconds.")


class Check(BaseModel):
    """The moderation verdict on a photo and its caption, decided as the bot decides in groups."""

    spam: bool = Field(
        description="True when the model gives the scenes the caption's hashtags name less than `threshold`."
    )
    reason: Reason = Field(
        description="`mismatch` (spam), `compatible`, `too_few_hashtags` (not judged, photo not "
        "classified) or `no_scene_hashtags` (only neutral or unknown hashtags: nothing to contradict)."
    )
    hashtags: list[str] = Field(description="The caption's hashtags, normalised, without '#'.")
    scene_hashtags: list[str] = Field(description="Those that name a scene: what was judged.")
    compatible_probability: float | None = Field(
        description="The probability the model gives those scenes together; null when not judged."
    )
    threshold: float = Field(description="Below this compatible probability a caption is spam.")
    sensitivity: Sensitivity = Field(description="The sensitivity the threshold belongs to.")
    predicted_tag: str | None = Field(description="The photo's most probable label (null: not classified).")
    confidence: float | None = Field(description="Probability of `predicted_tag`.")
    model_version: str | None = Field(description="Content hash of the model that judged (null: none did).")


def runner_ups(probabilities: Mapping[str, float], top: str) -> list[TagScore]:
    """The next most probable scene tags after `top`, best first (ties by name)."""
    ranked = sorted(
        ((tag, p) for tag, p in probabilities.items() if tag not in (top, OTHER) and p > 0),
        key=lambda item: (-item[1], item[0]),
    )
    return [TagScore(tag=tag, probability=p) for tag, p in ranked[:MAX_RUNNER_UPS]]


def classification(result: ClassifyResult) -> Classification:
    """A classified (`ok`) result as the API returns it."""
    assert result.ok and result.hashtag is not None, "only classified results have a hashtag"
    fields = result.model_dump(exclude={"ok", "error", "error_detail"})
    return Classification(
        **fields,
        abstained=result.suggested is None,
        runner_ups=runner_ups(result.probabilities, result.hashtag),
    )


def check(
    hashtags: Sequence[str], verdict: Verdict, settings: ModerationSettings, result: ClassifyResult | None
) -> Check:
    """The verdict as the API returns it; `result` is None when the caption was not judged."""
    return Check(
        spam=verdict.reason is Reason.MISMATCH,
        reason=verdict.reason,
        hashtags=list(hashtags),
        scene_hashtags=list(verdict.scene_hashtags),
        compatible_probability=verdict.compatible_probability,
        threshold=settings.threshold,
        sensitivity=settings.sensitivity,
        predicted_tag=result.hashtag if result else None,
        confidence=result.confidence if result else None,
        model_version=result.model_version if result else None,
    )
