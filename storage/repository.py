"""Small async functions over the bot's tables; each takes a session and commits nothing itself.

Callers open one session per update (`async with sessionmaker.begin() as session`), so each
update's writes land together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import String, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from moderation.verdict import ModerationMode, ModerationSettings, Sensitivity
from storage.models import Chat, Flag, Suggestion

FEEDBACK_VALUES = ("up", "down")
NOT_SPAM = "not_spam"


@dataclass(frozen=True)
class ChatStats:
    photos: int
    suggestions: int
    flags: int
    false_positives: int


async def ensure_chat(
    session: AsyncSession, chat_id: int, chat_type: str, defaults: ModerationSettings
) -> Chat:
    """The chat's row, created with the operator's default moderation settings on first sight."""
    chat = await session.get(Chat, chat_id)
    if chat is None:
        chat = Chat(
            id=chat_id,
            type=chat_type,
            photos_seen=0,
            moderation_enabled=defaults.enabled,
            moderation_mode=defaults.mode.value,
            moderation_sensitivity=defaults.sensitivity.value,
            moderation_min_hashtags=defaults.min_hashtags,
        )
        try:
            async with session.begin_nested():  # another replica may create it at the same moment
                session.add(chat)
        except IntegrityError:
            chat = await session.get(Chat, chat_id)
            assert chat is not None  # the row that won the race
    return chat


def moderation_settings(chat: Chat) -> ModerationSettings:
    return ModerationSettings(
        enabled=chat.moderation_enabled,
        mode=ModerationMode(chat.moderation_mode),
        sensitivity=Sensitivity(chat.moderation_sensitivity),
        min_hashtags=chat.moderation_min_hashtags,
    )


def apply_moderation_settings(chat: Chat, settings: ModerationSettings) -> None:
    chat.moderation_enabled = settings.enabled
    chat.moderation_mode = settings.mode.value
    chat.moderation_sensitivity = settings.sensitivity.value
    chat.moderation_min_hashtags = settings.min_hashtags


async def count_photo(session: AsyncSession, chat_id: int) -> None:
    """One more photo seen in the chat (an atomic increment: concurrent updates don't lose counts)."""
    await session.execute(update(Chat).where(Chat.id == chat_id).values(photos_seen=Chat.photos_seen + 1))


async def add_suggestion(
    session: AsyncSession,
    *,
    chat_id: int,
    user_id: int,
    file_unique_id: str,
    tag: str | None,
    confidence: float,
    model_version: str,
    latency_ms: float,
) -> int:
    suggestion = Suggestion(
        chat_id=chat_id,
        user_id=user_id,
        file_unique_id=file_unique_id,
        tag=tag,
        confidence=confidence,
        model_version=model_version,
        latency_ms=latency_ms,
    )
    session.add(suggestion)
    await session.flush()
    return suggestion.id


async def set_feedback(session: AsyncSession, suggestion_id: int, user_id: int, feedback: str) -> bool:
    """Store 👍/👎 on the user's own suggestion; False when it is not theirs or does not exist."""
    if feedback not in FEEDBACK_VALUES:
        raise ValueError(f"feedback must be one of {FEEDBACK_VALUES}, got {feedback!r}")
    result = await session.execute(
        update(Suggestion)
        .where(Suggestion.id == suggestion_id, Suggestion.user_id == user_id)
        .values(feedback=feedback)
    )
    return result.rowcount == 1


async def add_flag(
    session: AsyncSession,
    *,
    chat_id: int,
    message_id: int,
    user_id: int | None,
    caption_tags: Sequence[str],
    predicted_tag: str,
    confidence: float,
    compatible_probability: float | None,
    action: str,
) -> int:
    flag = Flag(
        chat_id=chat_id,
        message_id=message_id,
        user_id=user_id,
        caption_tags=list(caption_tags),
        predicted_tag=predicted_tag,
        confidence=confidence,
        compatible_probability=compatible_probability,
        action=action,
    )
    session.add(flag)
    await session.flush()
    return flag.id


async def mark_not_spam(session: AsyncSession, flag_id: int, chat_id: int, admin_id: int) -> bool:
    """Record an admin's "not spam" on a flag of this chat; False when there is no such flag."""
    result = await session.execute(
        update(Flag)
        .where(Flag.id == flag_id, Flag.chat_id == chat_id)
        .values(admin_verdict=NOT_SPAM, verdict_by=admin_id)
    )
    return result.rowcount == 1


async def chat_stats(session: AsyncSession, chat_id: int) -> ChatStats:
    photos = await session.scalar(select(Chat.photos_seen).where(Chat.id == chat_id))
    suggestions = await session.scalar(
        select(func.count())
        .select_from(Suggestion)
        .where(Suggestion.chat_id == chat_id, Suggestion.tag.is_not(None))
    )
    flags = await session.scalar(select(func.count()).select_from(Flag).where(Flag.chat_id == chat_id))
    false_positives = await session.scalar(
        select(func.count()).select_from(Flag).where(Flag.chat_id == chat_id, Flag.admin_verdict == NOT_SPAM)
    )
    return ChatStats(photos or 0, suggestions or 0, flags or 0, false_positives or 0)


class utc_day(FunctionElement[str]):
    """The UTC calendar day of a timestamp column as `YYYY-MM-DD` text (PostgreSQL and SQLite)."""

    type = String()
    inherit_cache = True


@compiles(utc_day, "postgresql")
def _utc_day_postgresql(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    # Explicitly UTC: date(timestamptz) would follow the connection's TimeZone setting.
    return f"to_char({compiler.process(element.clauses, **kw)} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


@compiles(utc_day, "sqlite")
def _utc_day_sqlite(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)})"  # SQLite stores CURRENT_TIMESTAMP in UTC


@dataclass(frozen=True)
class DayStats:
    day: date  # a UTC calendar day
    # Photos with a stored record that day: suggestions (abstentions included) and flags. The schema keeps
    # no per-day photo count (`Chat.photos_seen` is a running total), and a group photo that is not
    # flagged leaves no row, so in a group this counts the flagged photos only.
    photos: int
    suggestions: int
    flags: int


async def chat_daily_stats(
    session: AsyncSession, chat_id: int, today: date, days: int = 14
) -> list[DayStats]:
    """The chat's `days` UTC days up to `today`, oldest first, with zeros for days without records."""
    first = today - timedelta(days=days - 1)
    window = (first.isoformat(), today.isoformat())
    suggestion_day = utc_day(Suggestion.created_at)
    answered = await session.execute(
        select(suggestion_day, func.count(), func.count(Suggestion.tag))
        .where(Suggestion.chat_id == chat_id, suggestion_day.between(*window))
        .group_by(suggestion_day)
    )
    by_day = {day: (records, suggested) for day, records, suggested in answered}
    flag_day = utc_day(Flag.created_at)
    flagged = await session.execute(
        select(flag_day, func.count())
        .where(Flag.chat_id == chat_id, flag_day.between(*window))
        .group_by(flag_day)
    )
    flags_by_day: dict[str, int] = {day: count for day, count in flagged}
    series = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        records, suggested = by_day.get(day.isoformat(), (0, 0))
        flags = flags_by_day.get(day.isoformat(), 0)
        series.append(DayStats(day, photos=records + flags, suggestions=suggested, flags=flags))
    return series
