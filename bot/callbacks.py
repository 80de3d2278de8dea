"""Inline keyboards and their callback data: encoding, parsing, and the settings choices they make.

Callback data is a short string (Telegram allows 64 bytes): `fb:<suggestion>:<up|down>`,
`fx:<suggestion>:<tag>` (the tag that fits, after 👎 or from a list after 👍), `ns:<flag>` (an admin's
"not spam"), `sp:<flag>` ("spam"), `set:<field>:<value>`. Parsing never raises; unknown data parses to None.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import Language, text
from ml.tags import ALL_LABELS, OTHER, TAGS
from moderation.verdict import MIN_HASHTAGS_RANGE, ModerationMode, ModerationSettings, Sensitivity

FEEDBACK_PATTERN = r"^fb:"
CORRECTION_PATTERN = r"^fx:"
VERDICT_PATTERN = r"^(ns|sp):"
SETTINGS_PATTERN = r"^set:"

KEEP_PHOTO_IDS = "keep"  # the /settings field of the chat's opt-in to keeping photo ids
CORRECTION_ROW = 3  # tag buttons per row


@dataclass(frozen=True)
class FeedbackChoice:
    suggestion_id: int
    feedback: str  # "up" / "down"


@dataclass(frozen=True)
class CorrectionChoice:
    suggestion_id: int
    tag: str  # an ml.tags label; `other` for "none of these"


@dataclass(frozen=True)
class VerdictChoice:
    flag_id: int
    verdict: str  # storage.repository.NOT_SPAM / SPAM


# An admin's verdict under a moderation notice: callback prefix -> (verdict, button text key).
_VERDICTS = {"ns": ("not_spam", "not_spam_button"), "sp": ("spam", "spam_button")}


@dataclass(frozen=True)
class SettingsChoice:
    field: str  # "enabled" / "mode" / "sensitivity" / "min" / "keep"
    value: str  # "on"/"off", a ModerationMode, a Sensitivity, "+"/"-"


def feedback_keyboard(suggestion_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("👍", callback_data=f"fb:{suggestion_id}:up"),
                InlineKeyboardButton("👎", callback_data=f"fb:{suggestion_id}:down"),
            ]
        ]
    )


def parse_feedback(data: str | None) -> FeedbackChoice | None:
    parts = (data or "").split(":")
    if len(parts) != 3 or parts[0] != "fb" or not parts[1].isdigit() or parts[2] not in ("up", "down"):
        return None
    return FeedbackChoice(int(parts[1]), parts[2])


def question_after(feedback: str, offered: Sequence[str]) -> str | None:
    """The question (a `bot.replies.QUESTIONS` key) a 👍/👎 asks: after 👎 which tag fits; after 👍 on a
    ranked list which of its tags; after 👍 on one tag, none."""
    if feedback == "down":
        return "which_tag"
    return "which_listed" if len(offered) > 1 else None


def correction_keyboard(
    suggestion_id: int, tags: Sequence[str] | None, language: Language, *, none_of_these: bool = True
) -> InlineKeyboardMarkup:
    """"Which tag fits?": `tags` (what the serving model can suggest, or a ranked list's tags; None: every
    tag), then "none of these" unless `none_of_these` is False (a 👍 on a list said one of them fits)."""

    def button(label: str, tag: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(label, callback_data=f"fx:{suggestion_id}:{tag}")

    buttons = [button(f"#{tag}", tag) for tag in (TAGS if tags is None else tags) if tag != OTHER]
    rows = [buttons[start : start + CORRECTION_ROW] for start in range(0, len(buttons), CORRECTION_ROW)]
    if none_of_these:
        rows.append([button(text("correction_none", language), OTHER)])
    return InlineKeyboardMarkup(rows)


def parse_correction(data: str | None) -> CorrectionChoice | None:
    parts = (data or "").split(":")
    if len(parts) != 3 or parts[0] != "fx" or not parts[1].isdigit() or parts[2] not in ALL_LABELS:
        return None
    return CorrectionChoice(int(parts[1]), parts[2])


def verdict_keyboard(flag_id: int, language: Language) -> InlineKeyboardMarkup:
    """The "Not spam" and "🚫 Spam" buttons under a moderation notice (for admins: the handler checks)."""
    buttons = [
        InlineKeyboardButton(text(label, language), callback_data=f"{prefix}:{flag_id}")
        for prefix, (_, label) in _VERDICTS.items()
    ]
    return InlineKeyboardMarkup([buttons])


def parse_verdict(data: str | None) -> VerdictChoice | None:
    prefix, _, flag_id = (data or "").partition(":")
    if prefix not in _VERDICTS or not flag_id.isdigit():
        return None
    return VerdictChoice(int(flag_id), _VERDICTS[prefix][0])


def keep_photo_ids_row(keep: bool, language: Language) -> list[InlineKeyboardButton]:
    """The opt-in's toggle, saying in words what pressing it does."""
    toggle = "off" if keep else "on"
    label = text(f"keep_photo_ids_turn_{toggle}", language)
    return [InlineKeyboardButton(label, callback_data=f"set:{KEEP_PHOTO_IDS}:{toggle}")]


def private_settings_keyboard(keep_photo_ids: bool, language: Language) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([keep_photo_ids_row(keep_photo_ids, language)])


def settings_keyboard(
    settings: ModerationSettings, keep_photo_ids: bool, language: Language
) -> InlineKeyboardMarkup:
    def mark(label: str, chosen: bool) -> str:
        return f"✅ {label}" if chosen else label

    toggle = "off" if settings.enabled else "on"
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(f"/moderation {toggle}", callback_data=f"set:enabled:{toggle}")],
            [
                InlineKeyboardButton(
                    mark(text(f"mode_{mode.value}", language), mode == settings.mode),
                    callback_data=f"set:mode:{mode.value}",
                )
                for mode in ModerationMode
            ],
            [
                InlineKeyboardButton(
                    mark(text(f"sensitivity_{level.value}", language), level == settings.sensitivity),
                    callback_data=f"set:sensitivity:{level.value}",
                )
                for level in Sensitivity
            ],
            [
                InlineKeyboardButton("−", callback_data="set:min:-"),
                InlineKeyboardButton(f"#×{settings.min_hashtags}", callback_data="set:min:="),
                InlineKeyboardButton("+", callback_data="set:min:+"),
            ],
            keep_photo_ids_row(keep_photo_ids, language),
        ]
    )


def parse_settings(data: str | None) -> SettingsChoice | None:
    parts = (data or "").split(":")
    if len(parts) != 3 or parts[0] != "set":
        return None
    return SettingsChoice(parts[1], parts[2])


def keep_photo_ids_choice(choice: SettingsChoice) -> bool | None:
    """The opt-in a `keep` button sets; None for any other button."""
    if choice.field != KEEP_PHOTO_IDS or choice.value not in ("on", "off"):
        return None
    return choice.value == "on"


def apply_settings_choice(settings: ModerationSettings, choice: SettingsChoice) -> ModerationSettings:
    """The settings after pressing a button; unknown or no-op choices return them unchanged."""
    field, value = choice.field, choice.value
    if field == "enabled" and value in ("on", "off"):
        return dataclasses.replace(settings, enabled=value == "on")
    if field == "mode" and value in {mode.value for mode in ModerationMode}:
        return dataclasses.replace(settings, mode=ModerationMode(value))
    if field == "sensitivity" and value in {sensitivity.value for sensitivity in Sensitivity}:
        return dataclasses.replace(settings, sensitivity=Sensitivity(value))
    step = {"+": 1, "-": -1}.get(value)
    if step is None:
        return settings
    if field == "min":
        low, high = MIN_HASHTAGS_RANGE[0], MIN_HASHTAGS_RANGE[-1]
        return dataclasses.replace(settings, min_hashtags=min(high, max(low, settings.min_hashtags + step)))
    return settings
