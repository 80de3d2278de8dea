"""The moderation verdict: does the photo show what its caption hashtags claim?

Pure: caption hashtags, the hashtag vocabulary, the model's tag probabilities and the chat's settings
in, a `Verdict` out. The caption's scene hashtags name the scene tags they are compatible with
(`#beach` -> water); the *compatible probability* is the probability the model gives to those tags
together. A caption is suspicious when that probability is below the chat's sensitivity threshold:
the model is nearly sure the photo shows none of the scenes the caption names. Deciding from the
whole distribution, not the top tag, keeps an honest caption safe when the model hesitates between
its scene and another, and still catches spam when the model's best guess is `other`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class ModerationMode(StrEnum):
    """What the bot does with a suspicious photo."""

    FLAG = "flag"  # reply to the message naming the mismatch
    DELETE = "delete"  # delete it and post a short notice
    DRY_RUN = "dry-run"  # record only


class Sensitivity(StrEnum):
    """How readily a caption is called suspicious, in an admin's words (stored per chat)."""

    STRICT = "strict"  # catches the most spam, accepts more false flags
    BALANCED = "balanced"
    LENIENT = "lenient"  # flags only what is near certain: for delete mode


# Flag when the compatible probability is below the sensitivity's threshold. Each is the threshold with
# the highest spam catch rate whose false flags on honest captions stay within its target (strict 3 %,
# balanced 1 %, lenient 0.3 %; see moderation.evaluate.TARGETS), measured with the shipped model (v2,
# calibrated, TTA 1) on its 5,000 validation photos (50 per class) and the caption sets of
# moderation.captions (3,600 honest, 5,000 spam, seed 0):
#   ml evaluate --model ml/models/default.pt --data <90,000 photos> --split <v2 split> --part validation \
#     --save-probabilities val.npz
#   scenetag-moderation-eval --predictions val.npz --json report.json
#   strict    0.0125   false flags 2.75 % (99/3600)   spam caught 82.2 % (4109/5000)
#   balanced  0.004    false flags 1.00 % (36/3600)   spam caught 67.7 % (3385/5000)
#   lenient   0.001    false flags 0.25 %  (9/3600)   spam caught 41.9 % (2096/5000)
# The thresholds belong to the model's calibration: a new model needs its own run (ml/models/default.md).
THRESHOLDS: Mapping[Sensitivity, float] = MappingProxyType(
    {Sensitivity.STRICT: 0.0125, Sensitivity.BALANCED: 0.004, Sensitivity.LENIENT: 0.001}
)


class Action(StrEnum):
    """What the verdict asks the handler to do."""

    NONE = "none"
    FLAG = "flag"
    DELETE = "delete"
    RECORD = "record"
    ADMIN = "admin"  # not the bot's: the row of an admin's "spam" on a photo the bot let pass


class Reason(StrEnum):
    """Why the verdict is what it is (logged and tested)."""

    MODERATION_OFF = "moderation_off"
    TOO_FEW_HASHTAGS = "too_few_hashtags"
    NO_SCENE_HASHTAGS = "no_scene_hashtags"  # only neutral or unknown tags: nothing to contradict
    COMPATIBLE = "compatible"  # the caption's scenes are probable enough
    MISMATCH = "mismatch"  # the model gives the caption's scenes less than the threshold
    KNOWN_SPAM_PICTURE = "known_spam_picture"  # the photo matches the blocklist, whatever its caption
    ADMIN_SPAM = "admin_spam"  # an admin called a photo spam that the bot had let pass


# The minimum caption hashtags a chat can set (the bot's /settings buttons, the dashboard's form).
MIN_HASHTAGS_RANGE = range(1, 11)


@dataclass(frozen=True)
class ModerationSettings:
    """One chat's moderation settings."""

    enabled: bool = False  # off by default
    mode: ModerationMode = ModerationMode.FLAG
    sensitivity: Sensitivity = Sensitivity.BALANCED
    min_hashtags: int = 2  # captions with fewer distinct hashtags are never flagged

    def __post_init__(self) -> None:
        # Stored settings arrive as plain strings (storage's StoredModeration); an unknown one raises.
        object.__setattr__(self, "mode", ModerationMode(self.mode))
        object.__setattr__(self, "sensitivity", Sensitivity(self.sensitivity))

    @property
    def threshold(self) -> float:
        """Compatible probability below which a caption is suspicious."""
        return THRESHOLDS[self.sensitivity]


@dataclass(frozen=True)
class Verdict:
    action: Action
    reason: Reason
    scene_hashtags: tuple[str, ...] = ()  # caption hashtags that name a scene (what was judged)
    compatible_probability: float | None = None  # the model's probability of their scenes, when judged
    compatible_tags: frozenset[str] = frozenset()  # the scene tags those hashtags fit (stored with a flag)


# hashtag -> compatible scene tags; empty: known neutral; None: unknown (treated as neutral).
SceneTagsLookup = Callable[[str], frozenset[str] | None]

_ACTION_BY_MODE = {
    ModerationMode.FLAG: Action.FLAG,
    ModerationMode.DELETE: Action.DELETE,
    ModerationMode.DRY_RUN: Action.RECORD,
}


def precheck(hashtags: Sequence[str], settings: ModerationSettings) -> Verdict | None:
    """The verdict when the photo need not be classified at all, else None (classify, then `judge`).
    Who is exempt (admins, the linked channel) is the caller's to decide: it needs Telegram."""
    if not settings.enabled:
        return Verdict(Action.NONE, Reason.MODERATION_OFF)
    if len(set(hashtags)) < settings.min_hashtags:
        return Verdict(Action.NONE, Reason.TOO_FEW_HASHTAGS)
    return None


def caption_scenes(
    hashtags: Sequence[str], scene_tags: SceneTagsLookup
) -> tuple[tuple[str, ...], frozenset[str]]:
    """The caption's scene hashtags (in order, once each) and every scene tag any of them fits."""
    scene_hashtags: list[str] = []
    compatible: set[str] = set()
    for hashtag in dict.fromkeys(hashtags):
        tags = scene_tags(hashtag)
        if tags:
            scene_hashtags.append(hashtag)
            compatible |= tags
    return tuple(scene_hashtags), frozenset(compatible)


def compatible_probability(probabilities: Mapping[str, float], compatible: frozenset[str]) -> float:
    """The probability the model gives to the compatible scene tags together (a sum: tags are exclusive).

    Raises ValueError when a tag has no probability: counting it as 0 would accuse honest captions.
    """
    missing = sorted(compatible - probabilities.keys())
    if missing:
        raise ValueError(f"no probability for scene tag(s) {missing}: expected every label of ml.tags")
    return sum(probabilities[tag] for tag in compatible)


def is_suspicious(probability: float, threshold: float) -> bool:
    """The one comparison both the bot and `moderation.evaluate` use."""
    return probability < threshold


def judge(
    hashtags: Sequence[str],
    scene_tags: SceneTagsLookup,
    probabilities: Mapping[str, float],
    settings: ModerationSettings,
) -> Verdict:
    """Decide what to do with one captioned photo.

    `hashtags` are normalised, without '#'; `probabilities` are the worker's tag probabilities
    (every label of ml.tags.ALL_LABELS, as in worker.contract.ClassifyResult).
    """
    early = precheck(hashtags, settings)
    if early is not None:
        return early
    scene_hashtags, compatible = caption_scenes(hashtags, scene_tags)
    if not scene_hashtags:
        return Verdict(Action.NONE, Reason.NO_SCENE_HASHTAGS)
    probability = compatible_probability(probabilities, compatible)
    if not is_suspicious(probability, settings.threshold):
        return Verdict(Action.NONE, Reason.COMPATIBLE, scene_hashtags, probability, compatible)
    return Verdict(_ACTION_BY_MODE[settings.mode], Reason.MISMATCH, scene_hashtags, probability, compatible)


def known_spam(settings: ModerationSettings) -> Verdict:
    """The verdict on a photo that matches a known spam picture (moderation.blocklist): acted on in the
    chat's mode whatever its caption says (any hashtags, or none). Who is exempt is the caller's to decide."""
    if not settings.enabled:
        return Verdict(Action.NONE, Reason.MODERATION_OFF)
    return Verdict(_ACTION_BY_MODE[settings.mode], Reason.KNOWN_SPAM_PICTURE)
