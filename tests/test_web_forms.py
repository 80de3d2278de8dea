"""web.forms (the settings form), web.audit's change descriptions and web.formatting."""

from __future__ import annotations

from datetime import datetime

import pytest

from moderation.verdict import ModerationMode, ModerationSettings, Sensitivity
from web.audit import describe_changes
from web.formatting import message_link, milliseconds, percent, when, when_ts
from web.forms import FormError, parse_settings_form

VALID = {"enabled": "on", "mode": "delete", "sensitivity": "lenient", "min_hashtags": "3"}


def test_a_valid_form_becomes_settings() -> None:
    assert parse_settings_form(VALID) == ModerationSettings(
        True, ModerationMode.DELETE, Sensitivity.LENIENT, 3
    )


def test_an_unchecked_box_turns_moderation_off() -> None:
    form = {key: value for key, value in VALID.items() if key != "enabled"}
    assert parse_settings_form(form).enabled is False


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("mode", "ban", "Mode must be one of flag, delete, dry-run"),
        ("sensitivity", "", "Sensitivity must be one of strict, balanced, lenient"),
        ("min_hashtags", "0", "from 1 to 10"),
        ("min_hashtags", "11", "from 1 to 10"),
        ("min_hashtags", "two", "from 1 to 10"),
    ],
)
def test_bad_values_say_what_is_wrong(field: str, value: str, message: str) -> None:
    with pytest.raises(FormError, match=message):
        parse_settings_form(VALID | {field: value})


def test_describe_changes_lists_only_what_changed() -> None:
    before = ModerationSettings()
    after = ModerationSettings(True, ModerationMode.DELETE, Sensitivity.BALANCED, 2)
    assert describe_changes(before, after) == ("enabled: off → on", "mode: flag → delete")
    assert describe_changes(after, after) == ()


def test_formatting() -> None:
    assert when(datetime(2026, 11, 29, 3, 4, 5)) == "2026-11-29 03:04 UTC"
    assert when(None) == "—"
    assert when_ts(0) == "1970-01-01 00:00 UTC"
    assert percent(0.8765) == "88 %" and percent(0.004, 2) == "0.40 %" and percent(None) == "—"
    assert milliseconds(1234.4) == "1,234 ms"
    assert message_link(-1001234567890, 17) == "https://t.me/c/1234567890/17"
    assert message_link(-4567, 17) is None  # a basic group: no public message links
