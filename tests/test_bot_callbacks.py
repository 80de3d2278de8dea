"""Callback data round trips and the settings keyboard's choices."""

from __future__ import annotations

import pytest

from bot.callbacks import (
    CorrectionChoice,
    FeedbackChoice,
    SettingsChoice,
    VerdictChoice,
    apply_settings_choice,
    correction_keyboard,
    feedback_keyboard,
    keep_photo_ids_choice,
    parse_correction,
    parse_feedback,
    parse_settings,
    parse_verdict,
    private_settings_keyboard,
    question_after,
    settings_keyboard,
    verdict_keyboard,
)
from ml.tags import ALL_LABELS, TAGS
from moderation.verdict import ModerationMode, ModerationSettings, Sensitivity


def buttons(markup):
    return [button for row in markup.inline_keyboard for button in row]


def test_feedback_round_trip():
    up, down = buttons(feedback_keyboard(42))
    assert parse_feedback(up.callback_data) == FeedbackChoice(42, "up")
    assert parse_feedback(down.callback_data) == FeedbackChoice(42, "down")


@pytest.mark.parametrize(
    "data", [None, "", "fb", "fb:x:up", "fb:1:maybe", "fb:1:up:extra", "ns:1", "set:mode:flag"]
)
def test_malformed_feedback_parses_to_none(data):
    assert parse_feedback(data) is None


def test_correction_offers_the_serving_models_tags_and_none_of_these_within_64_bytes():
    offered = buttons(correction_keyboard(2**62, ["cafe", "entertainment", "bar", "other"], "en"))
    assert [b.text for b in offered] == ["#cafe", "#entertainment", "#bar", "None of these"]
    assert [parse_correction(b.callback_data) for b in offered] == [
        CorrectionChoice(2**62, tag) for tag in ("cafe", "entertainment", "bar", "other")
    ]
    assert all(len(b.callback_data.encode()) <= 64 for b in offered)
    # Before any worker published its tags: every tag, three to a row.
    every = correction_keyboard(1, None, "ru")
    assert [b.text for b in buttons(every)][:-1] == [f"#{tag}" for tag in TAGS]
    assert buttons(every)[-1].text == "Ни один из них"
    assert max(len(row) for row in every.inline_keyboard) == 3


def test_thumbs_up_asks_which_of_a_list_and_thumbs_down_which_tag_fits():
    assert question_after("down", []) == "which_tag"
    assert question_after("down", ["cafe", "bar"]) == "which_tag"
    assert question_after("up", ["cafe", "bar"]) == "which_listed"
    assert question_after("up", ["cafe"]) is None  # one sure tag: nothing to ask
    assert question_after("up", []) is None  # a row from before lists


def test_the_list_question_offers_only_its_tags():
    listed = buttons(correction_keyboard(7, ["cafe", "bar"], "en", none_of_these=False))
    assert [b.text for b in listed] == ["#cafe", "#bar"]
    assert [parse_correction(b.callback_data) for b in listed] == [CorrectionChoice(7, "cafe"),
                                                                   CorrectionChoice(7, "bar")]


@pytest.mark.parametrize("data", [None, "", "fx:1", "fx:x:cafe", "fx:1:pizza", "fx:1:cafe:extra", "fb:1:up"])
def test_malformed_correction_parses_to_none(data):
    assert parse_correction(data) is None
    assert {parse_correction(f"fx:3:{tag}").tag for tag in ALL_LABELS} == set(ALL_LABELS)


def test_the_keep_photo_ids_button_says_what_it_does_and_toggles():
    (stop,) = buttons(private_settings_keyboard(True, "en"))
    assert stop.text == "Stop keeping photo ids for training"
    assert keep_photo_ids_choice(parse_settings(stop.callback_data)) is False
    keep = buttons(settings_keyboard(ModerationSettings(), False, "en"))[-1]
    assert keep.text == "Keep photo ids for training"
    assert keep_photo_ids_choice(parse_settings(keep.callback_data)) is True
    assert keep_photo_ids_choice(SettingsChoice("mode", "flag")) is None
    assert keep_photo_ids_choice(SettingsChoice("keep", "maybe")) is None


def test_verdict_buttons_round_trip():
    not_spam, spam = buttons(verdict_keyboard(7, "ru"))
    assert (not_spam.text, spam.text) == ("Не спам", "🚫 Спам")
    assert parse_verdict(not_spam.callback_data) == VerdictChoice(7, "not_spam")
    assert parse_verdict(spam.callback_data) == VerdictChoice(7, "spam")
    assert parse_verdict("ns:") is None
    assert parse_verdict("sp:x") is None
    assert parse_verdict("fb:7:up") is None


def test_every_settings_button_parses_and_stays_under_telegrams_64_bytes():
    keyboard = buttons(settings_keyboard(ModerationSettings(), True, "en"))
    keyboard += buttons(private_settings_keyboard(False, "ru"))
    assert len(keyboard) >= 3  # a loop over no buttons would check nothing
    for button in keyboard:
        assert len(button.callback_data.encode()) <= 64
        assert parse_settings(button.callback_data) is not None


def test_settings_keyboard_marks_the_current_mode():
    keyboard = settings_keyboard(ModerationSettings(mode=ModerationMode.DELETE), True, "en")
    texts = [b.text for b in buttons(keyboard)]
    assert "✅ delete" in texts
    assert "flag" in texts


def test_settings_keyboard_offers_each_sensitivity_in_words_and_marks_the_current_one():
    settings = ModerationSettings(sensitivity=Sensitivity.LENIENT)
    offered = {b.callback_data: b.text for b in buttons(settings_keyboard(settings, False, "ru"))}
    assert offered["set:sensitivity:lenient"] == "✅ мягкая"
    assert offered["set:sensitivity:strict"] == "строгая"
    assert {f"set:sensitivity:{s.value}" for s in Sensitivity} <= offered.keys()


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("enabled", "on", ModerationSettings(enabled=True)),
        ("mode", "dry-run", ModerationSettings(mode=ModerationMode.DRY_RUN)),
        ("sensitivity", "strict", ModerationSettings(sensitivity=Sensitivity.STRICT)),
        ("sensitivity", "lenient", ModerationSettings(sensitivity=Sensitivity.LENIENT)),
        ("sensitivity", "0.6", ModerationSettings()),
        ("sensitivity", "+", ModerationSettings()),
        ("min", "+", ModerationSettings(min_hashtags=3)),
        ("min", "-", ModerationSettings(min_hashtags=1)),
        ("min", "=", ModerationSettings()),
        ("mode", "nuke", ModerationSettings()),
        ("colour", "+", ModerationSettings()),
    ],
)
def test_apply_settings_choice(field, value, expected):
    assert apply_settings_choice(ModerationSettings(), SettingsChoice(field, value)) == expected


def test_settings_stay_within_their_ranges():
    low = ModerationSettings(min_hashtags=1)
    assert apply_settings_choice(low, SettingsChoice("min", "-")).min_hashtags == 1
    high = ModerationSettings(min_hashtags=10)
    assert apply_settings_choice(high, SettingsChoice("min", "+")).min_hashtags == 10
