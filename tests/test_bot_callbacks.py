"""Callback data round trips and the settings keyboard's choices."""

from __future__ import annotations

import pytest

from bot.callbacks import (
    FeedbackChoice,
    SettingsChoice,
    apply_settings_choice,
    feedback_keyboard,
    not_spam_keyboard,
    parse_feedback,
    parse_not_spam,
    parse_settings,
    settings_keyboard,
)
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


def test_not_spam_round_trip():
    (button,) = buttons(not_spam_keyboard(7, "ru"))
    assert button.text == "Не спам"
    assert parse_not_spam(button.callback_data) == 7
    assert parse_not_spam("ns:") is None
    assert parse_not_spam("fb:7:up") is None


def test_every_settings_button_parses_and_stays_under_telegrams_64_bytes():
    keyboard = buttons(settings_keyboard(ModerationSettings(), "en"))
    assert len(keyboard) >= 3  # a loop over no buttons would check nothing
    for button in keyboard:
        assert len(button.callback_data.encode()) <= 64
        assert parse_settings(button.callback_data) is not None


def test_settings_keyboard_marks_the_current_mode():
    texts = [b.text for b in buttons(settings_keyboard(ModerationSettings(mode=ModerationMode.DELETE), "en"))]
    assert "✅ delete" in texts
    assert "flag" in texts


def test_settings_keyboard_offers_each_sensitivity_in_words_and_marks_the_current_one():
    settings = ModerationSettings(sensitivity=Sensitivity.LENIENT)
    offered = {b.callback_data: b.text for b in buttons(settings_keyboard(settings, "ru"))}
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
