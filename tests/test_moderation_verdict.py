"""The moderation verdict as a table of cases, with the real hashtag vocabulary and a fixed one."""

from __future__ import annotations

import dataclasses

import pytest

from ml.tags import ALL_LABELS, OTHER
from moderation.hashtags import extract_hashtags, load_vocabulary
from moderation.verdict import (
    THRESHOLDS,
    Action,
    ModerationMode,
    ModerationSettings,
    Reason,
    Sensitivity,
    caption_scenes,
    compatible_probability,
    judge,
    known_spam,
    precheck,
)

VOCABULARY = {
    "beach": frozenset({"water", "nature"}),
    "sport": frozenset({"sport"}),
    "nature": frozenset({"nature", "forest", "garden"}),
    "coffee": frozenset({"cafe"}),
    "love": frozenset(),
    "instagood": frozenset(),
}
ON = ModerationSettings(enabled=True, mode=ModerationMode.FLAG, sensitivity=Sensitivity.BALANCED)
BALANCED = THRESHOLDS[Sensitivity.BALANCED]


def photo(**given: float) -> dict[str, float]:
    """Every label's probability as the worker returns them: `given`, the rest of the mass on `other`."""
    probabilities = dict.fromkeys(ALL_LABELS, 0.0) | given
    probabilities[OTHER] = 1.0 - sum(given.values())
    return probabilities


def lookup(tag: str) -> frozenset[str] | None:
    return VOCABULARY.get(tag)


CAFE = photo(cafe=0.9, home=0.05)  # #beach #sport #nature fit water/nature/forest/garden/sport: 0


@pytest.mark.parametrize(
    ("caption", "probabilities", "settings", "expected"),
    [
        ("#beach #sport #nature", CAFE, ON, (Action.FLAG, Reason.MISMATCH)),
        ("#beach #sport #nature", CAFE, ModerationSettings(), (Action.NONE, Reason.MODERATION_OFF)),
        ("#beach", CAFE, ON, (Action.NONE, Reason.TOO_FEW_HASHTAGS)),
        ("#beach #beach #BEACH", CAFE, ON, (Action.NONE, Reason.TOO_FEW_HASHTAGS)),
        ("#love #instagood", CAFE, ON, (Action.NONE, Reason.NO_SCENE_HASHTAGS)),
        ("#unknowntag #another", CAFE, ON, (Action.NONE, Reason.NO_SCENE_HASHTAGS)),
        ("#love #sport", CAFE, ON, (Action.FLAG, Reason.MISMATCH)),
        # One fitting hashtag among contradicting ones excuses the caption: its scene is probable.
        ("#beach #coffee #sport", CAFE, ON, (Action.NONE, Reason.COMPATIBLE)),
        # The top tag contradicts the caption, but the model still gives its scenes a real chance.
        ("#beach #sport", photo(cafe=0.6, water=0.3), ON, (Action.NONE, Reason.COMPATIBLE)),
        # Small probabilities of several compatible tags add up.
        ("#beach #love", photo(cafe=0.9, water=BALANCED / 2, nature=BALANCED / 2), ON,
         (Action.NONE, Reason.COMPATIBLE)),
        ("#beach #love", photo(cafe=0.9, water=BALANCED / 3, nature=BALANCED / 3), ON,
         (Action.FLAG, Reason.MISMATCH)),
        # The model's best guess is `other` (no popular scene): a spam caption is still caught...
        ("#beach #sport", photo(), ON, (Action.FLAG, Reason.MISMATCH)),
        # ...and an uncertain photo does not accuse an honest one.
        ("#coffee #love", photo(cafe=0.2), ON, (Action.NONE, Reason.COMPATIBLE)),
        ("#beach #sport", CAFE, dataclasses.replace(ON, mode=ModerationMode.DELETE),
         (Action.DELETE, Reason.MISMATCH)),
        ("#beach #sport", CAFE, dataclasses.replace(ON, mode=ModerationMode.DRY_RUN),
         (Action.RECORD, Reason.MISMATCH)),
        ("#beach #sport #love", CAFE, dataclasses.replace(ON, min_hashtags=4),
         (Action.NONE, Reason.TOO_FEW_HASHTAGS)),
    ],
)
def test_verdict_table(caption, probabilities, settings, expected):
    verdict = judge(extract_hashtags(caption), lookup, probabilities, settings)
    assert (verdict.action, verdict.reason) == expected


@pytest.mark.parametrize("sensitivity", list(Sensitivity))
def test_each_sensitivity_flags_just_below_its_threshold(sensitivity: Sensitivity) -> None:
    settings = dataclasses.replace(ON, sensitivity=sensitivity)
    threshold = THRESHOLDS[sensitivity]
    below = judge(["sport", "love"], lookup, photo(sport=threshold * 0.99), settings)
    at = judge(["sport", "love"], lookup, photo(sport=threshold), settings)
    assert (below.reason, at.reason) == (Reason.MISMATCH, Reason.COMPATIBLE)


def test_sensitivities_are_ordered_strict_flags_most() -> None:
    assert THRESHOLDS[Sensitivity.STRICT] > THRESHOLDS[Sensitivity.BALANCED]
    assert THRESHOLDS[Sensitivity.BALANCED] > THRESHOLDS[Sensitivity.LENIENT] > 0
    assert set(THRESHOLDS) == set(Sensitivity)
    assert ModerationSettings().sensitivity is Sensitivity.BALANCED


def test_verdict_carries_the_scene_hashtags_and_their_probability():
    probabilities = photo(cafe=0.9, water=0.01, sport=0.005)
    verdict = judge(["love", "beach", "sport", "unknowntag"], lookup, probabilities, ON)
    assert verdict.scene_hashtags == ("beach", "sport")
    assert verdict.compatible_probability == pytest.approx(0.015)
    assert verdict.compatible_tags == caption_scenes(["beach", "sport"], lookup)[1]
    assert judge(["love", "instagood"], lookup, CAFE, ON).compatible_probability is None


def test_caption_scenes_unions_the_compatible_tags_of_each_scene_hashtag():
    assert caption_scenes(["beach", "love", "nature", "beach", "zzz"], lookup) == (
        ("beach", "nature"),
        frozenset({"water", "nature", "forest", "garden"}),
    )


def test_a_missing_probability_is_an_error_not_a_zero():
    # Counting a missing tag as 0 would flag every honest caption naming it.
    with pytest.raises(ValueError, match="water"):
        compatible_probability({"cafe": 1.0}, frozenset({"water"}))
    with pytest.raises(ValueError):
        judge(["beach", "sport"], lookup, {}, ON)


def test_precheck_agrees_with_judge_on_what_needs_no_classification():
    assert precheck(["beach"], ON).reason is Reason.TOO_FEW_HASHTAGS
    assert precheck(["beach", "sport"], ON) is None
    assert precheck(["beach", "sport"], ModerationSettings()).action is Action.NONE


def test_issue_example_with_the_shipped_vocabulary():
    """A cafe photo captioned '#beach #sport #nature' is the issue's own example of a flag."""
    vocabulary = load_vocabulary()
    hashtags = extract_hashtags("Sunny day! #Beach #sport #nature #love #instagood")
    verdict = judge(hashtags, vocabulary.scene_tags, CAFE, ON)
    assert verdict.action is Action.FLAG
    assert set(verdict.scene_hashtags) == {"beach", "sport", "nature"}
    coffee = judge(extract_hashtags("#coffee #latte #love"), vocabulary.scene_tags, CAFE, ON)
    assert coffee.reason is Reason.COMPATIBLE
    russian = judge(extract_hashtags("#кофе #любовь"), vocabulary.scene_tags, CAFE, ON)
    assert russian.reason is Reason.COMPATIBLE


def test_hostile_captions_parse_and_judge_without_error():
    caption = " ".join(f"#tag{i}" for i in range(800)) + " #приро\u200bда #море 🌊#beach\u200d #🔥 #"
    hashtags = extract_hashtags(caption)
    verdict = judge(hashtags, load_vocabulary().scene_tags, CAFE, ON)
    assert verdict.action in set(Action)


def test_settings_accept_their_stored_strings_and_refuse_unknown_ones():
    """The database keeps plain strings (storage's StoredModeration); the settings type checks them."""
    stored = ModerationSettings(True, "delete", "strict", 3)  # type: ignore[arg-type]
    assert stored == ModerationSettings(True, ModerationMode.DELETE, Sensitivity.STRICT, 3)
    assert stored.threshold == THRESHOLDS[Sensitivity.STRICT]
    with pytest.raises(ValueError):
        ModerationSettings(sensitivity="paranoid")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (ModerationSettings(enabled=True, mode=ModerationMode.DELETE), Action.DELETE),
        (ModerationSettings(enabled=True, mode=ModerationMode.FLAG), Action.FLAG),
        (ModerationSettings(enabled=True, mode=ModerationMode.DRY_RUN), Action.RECORD),
        (ModerationSettings(enabled=False), Action.NONE),
    ],
)
def test_a_known_spam_picture_is_acted_on_in_the_chats_mode(settings, expected):
    verdict = known_spam(settings)
    assert verdict.action is expected
    if expected is not Action.NONE:
        assert verdict.reason is Reason.KNOWN_SPAM_PICTURE and verdict.compatible_probability is None
