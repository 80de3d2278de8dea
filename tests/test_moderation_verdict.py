"""The moderation verdict as a table of cases, with the real hashtag vocabulary and a fixed one."""

from __future__ import annotations

import pytest

from moderation.hashtags import extract_hashtags, load_vocabulary
from moderation.verdict import Action, ModerationMode, ModerationSettings, Prediction, Reason, judge, precheck

VOCABULARY = {
    "beach": frozenset({"water", "nature"}),
    "sport": frozenset({"sport"}),
    "nature": frozenset({"nature", "forest", "garden"}),
    "coffee": frozenset({"cafe"}),
    "love": frozenset(),
    "instagood": frozenset(),
}
ON = ModerationSettings(enabled=True, mode=ModerationMode.FLAG, threshold=0.6, min_hashtags=2)
CAFE = Prediction("cafe", 0.9)


def lookup(tag: str) -> frozenset[str] | None:
    return VOCABULARY.get(tag)


@pytest.mark.parametrize(
    ("caption", "prediction", "settings", "exempt", "expected"),
    [
        ("#beach #sport #nature", CAFE, ON, False, (Action.FLAG, Reason.MISMATCH)),
        ("#beach #sport #nature", CAFE, ModerationSettings(), False, (Action.NONE, Reason.MODERATION_OFF)),
        ("#beach #sport #nature", CAFE, ON, True, (Action.NONE, Reason.EXEMPT_SENDER)),
        ("#beach", CAFE, ON, False, (Action.NONE, Reason.TOO_FEW_HASHTAGS)),
        ("#beach #beach #BEACH", CAFE, ON, False, (Action.NONE, Reason.TOO_FEW_HASHTAGS)),
        ("#beach #sport", Prediction("cafe", 0.59), ON, False, (Action.NONE, Reason.NOT_CONFIDENT)),
        ("#beach #sport", Prediction("other", 0.99), ON, False, (Action.NONE, Reason.NOT_CONFIDENT)),
        ("#beach #sport", Prediction("cafe", 0.6), ON, False, (Action.FLAG, Reason.MISMATCH)),
        ("#love #instagood", CAFE, ON, False, (Action.NONE, Reason.NO_SCENE_HASHTAGS)),
        ("#unknowntag #another", CAFE, ON, False, (Action.NONE, Reason.NO_SCENE_HASHTAGS)),
        ("#beach #coffee #sport", CAFE, ON, False, (Action.NONE, Reason.COMPATIBLE)),
        ("#love #sport", CAFE, ON, False, (Action.FLAG, Reason.MISMATCH)),
        ("#beach #sport", Prediction("water", 0.8), ON, False, (Action.NONE, Reason.COMPATIBLE)),
        (
            "#beach #sport",
            CAFE,
            ModerationSettings(enabled=True, mode=ModerationMode.DELETE),
            False,
            (Action.DELETE, Reason.MISMATCH),
        ),
        (
            "#beach #sport",
            CAFE,
            ModerationSettings(enabled=True, mode=ModerationMode.DRY_RUN),
            False,
            (Action.RECORD, Reason.MISMATCH),
        ),
        (
            "#beach #sport #love",
            CAFE,
            ModerationSettings(enabled=True, min_hashtags=4),
            False,
            (Action.NONE, Reason.TOO_FEW_HASHTAGS),
        ),
    ],
)
def test_verdict_table(caption, prediction, settings, exempt, expected):
    verdict = judge(extract_hashtags(caption), lookup, prediction, settings, sender_exempt=exempt)
    assert (verdict.action, verdict.reason) == expected


def test_mismatch_names_only_the_scene_hashtags_it_contradicts():
    verdict = judge(["love", "beach", "sport", "unknowntag"], lookup, CAFE, ON)
    assert verdict.scene_hashtags == ("beach", "sport")


def test_precheck_agrees_with_judge_on_what_needs_no_classification():
    assert precheck(["beach"], ON, sender_exempt=False).reason is Reason.TOO_FEW_HASHTAGS
    assert precheck(["beach", "sport"], ON, sender_exempt=False) is None
    assert precheck(["beach", "sport"], ModerationSettings(), sender_exempt=False).action is Action.NONE


def test_issue_example_with_the_shipped_vocabulary():
    """A cafe photo captioned '#beach #sport #nature' is the issue's own example of a flag."""
    vocabulary = load_vocabulary()
    hashtags = extract_hashtags("Sunny day! #Beach #sport #nature #love #instagood")
    verdict = judge(hashtags, vocabulary.scene_tags, CAFE, ON)
    assert verdict.action is Action.FLAG
    assert set(verdict.scene_hashtags) == {"beach", "sport", "nature"}
    coffee = judge(extract_hashtags("#coffee #latte #love"), vocabulary.scene_tags, CAFE, ON)
    assert coffee.reason is Reason.COMPATIBLE


def test_hostile_captions_parse_and_judge_without_error():
    caption = " ".join(f"#tag{i}" for i in range(800)) + " #приро\u200bда #море 🌊#beach\u200d #🔥 #"
    hashtags = extract_hashtags(caption)
    verdict = judge(hashtags, load_vocabulary().scene_tags, CAFE, ON)
    assert verdict.action in set(Action)
