"""The moderation verdict: do a photo's caption hashtags contradict what the photo shows?

Pure: caption hashtags, the hashtag vocabulary, the model's prediction and the chat's settings in,
a `Verdict` out. It imports no telegram, rq or database module, so the whole decision is testable
as a table of cases.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from ml.tags import OTHER


class ModerationMode(StrEnum):
    """What the bot does with a mismatching photo."""

    FLAG = "flag"  # reply to the message naming the mismatch
    DELETE = "delete"  # delete it and post a short notice
    DRY_RUN = "dry-run"  # record only


class Action(StrEnum):
    """What the verdict asks the handler to do."""

    NONE = "none"
    FLAG = "flag"
    DELETE = "delete"
    RECORD = "record"


class Reason(StrEnum):
    """Why the verdict is what it is (logged and tested)."""

    MODERATION_OFF = "moderation_off"
    EXEMPT_SENDER = "exempt_sender"  # admins, anonymous admins, the linked channel
    TOO_FEW_HASHTAGS = "too_few_hashtags"
    NOT_CONFIDENT = "not_confident"  # the model says `other` or is below the threshold
    NO_SCENE_HASHTAGS = "no_scene_hashtags"  # only neutral or unknown tags: nothing to contradict
    COMPATIBLE = "compatible"  # some caption hashtag fits the predicted scene
    MISMATCH = "mismatch"


@dataclass(frozen=True)
class ModerationSettings:
    """One chat's moderation settings."""

    enabled: bool = False  # off by default
    mode: ModerationMode = ModerationMode.FLAG
    threshold: float = 0.6  # model confidence needed before anything is flagged
    min_hashtags: int = 2  # captions with fewer distinct hashtags are never flagged


@dataclass(frozen=True)
class Prediction:
    """The model's best scene tag for the photo (the argmax, not the abstaining suggestion)."""

    tag: str
    confidence: float


@dataclass(frozen=True)
class Verdict:
    action: Action
    reason: Reason
    scene_hashtags: tuple[str, ...] = ()  # caption hashtags that name a scene (what was contradicted)


# hashtag -> compatible scene tags; empty: known neutral; None: unknown (treated as neutral).
SceneTagsLookup = Callable[[str], frozenset[str] | None]

_ACTION_BY_MODE = {
    ModerationMode.FLAG: Action.FLAG,
    ModerationMode.DELETE: Action.DELETE,
    ModerationMode.DRY_RUN: Action.RECORD,
}


def precheck(hashtags: Sequence[str], settings: ModerationSettings, *, sender_exempt: bool) -> Verdict | None:
    """The verdict when the photo need not be classified at all, else None (classify, then `judge`)."""
    if not settings.enabled:
        return Verdict(Action.NONE, Reason.MODERATION_OFF)
    if sender_exempt:
        return Verdict(Action.NONE, Reason.EXEMPT_SENDER)
    if len(set(hashtags)) < settings.min_hashtags:
        return Verdict(Action.NONE, Reason.TOO_FEW_HASHTAGS)
    return None


def judge(
    hashtags: Sequence[str],
    scene_tags: SceneTagsLookup,
    prediction: Prediction,
    settings: ModerationSettings,
    *,
    sender_exempt: bool = False,
) -> Verdict:
    """Decide what to do with one captioned photo; `hashtags` are normalised, without '#'."""
    early = precheck(hashtags, settings, sender_exempt=sender_exempt)
    if early is not None:
        return early
    if prediction.tag == OTHER or prediction.confidence < settings.threshold:
        return Verdict(Action.NONE, Reason.NOT_CONFIDENT)
    scenes = {tag: scene_tags(tag) for tag in dict.fromkeys(hashtags)}
    scene_hashtags = tuple(tag for tag, compatible in scenes.items() if compatible)
    if not scene_hashtags:
        return Verdict(Action.NONE, Reason.NO_SCENE_HASHTAGS)
    if any(prediction.tag in (scenes[tag] or ()) for tag in scene_hashtags):
        return Verdict(Action.NONE, Reason.COMPATIBLE, scene_hashtags)
    return Verdict(_ACTION_BY_MODE[settings.mode], Reason.MISMATCH, scene_hashtags)
