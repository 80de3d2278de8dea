"""Small async functions over the bot's tables; each takes a session and commits nothing itself.

Callers open one session per update (`async with sessionmaker.begin() as session`), so each
update's writes land together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, String, case, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from storage.models import Chat, ChatDay, Flag, Member, SpamPicture, Suggestion

FEEDBACK_VALUES = ("up", "down")
NOT_SPAM = "not_spam"
SPAM = "spam"
VERDICTS = (NOT_SPAM, SPAM)  # what an admin can say of a flag


class Rating(StrEnum):
    """What became of a 👍/👎 or a correction."""

    STORED = "stored"
    ALREADY = "already"  # the suggestion was rated (or corrected) before: each is asked once
    NOT_YOURS = "not_yours"  # someone else's suggestion, or none with that id


@dataclass(frozen=True)
class StoredModeration:
    """A chat's moderation columns as plain values. The bot and the web app build
    `moderation.verdict.ModerationSettings` from them (`ModerationSettings(**asdict(...))`), so the database
    layer knows nothing of the detector's types."""

    enabled: bool
    mode: str
    sensitivity: str
    min_hashtags: int


@dataclass(frozen=True)
class AlbumPhoto:
    """One photo of a flagged album."""

    message_id: int
    picture_hash: str | None  # None: the photo could not be hashed


@dataclass(frozen=True)
class ChatStats:
    photos: int
    suggestions: int
    flags: int
    false_positives: int


async def ensure_chat(
    session: AsyncSession, chat_id: int, chat_type: str, defaults: StoredModeration
) -> Chat:
    """The chat's row, created with the operator's default moderation settings on first sight."""
    chat = await session.get(Chat, chat_id)
    if chat is None:
        chat = Chat(
            id=chat_id,
            type=chat_type,
            photos_seen=0,
        )
        store_moderation(chat, defaults)
        try:
            async with session.begin_nested():  # another replica may create it at the same moment
                session.add(chat)
        except IntegrityError:
            chat = await session.get(Chat, chat_id)
            assert chat is not None  # the row that won the race
    return chat


def stored_moderation(chat: Chat) -> StoredModeration:
    return StoredModeration(
        enabled=chat.moderation_enabled,
        mode=chat.moderation_mode,
        sensitivity=chat.moderation_sensitivity,
        min_hashtags=chat.moderation_min_hashtags,
    )


def store_moderation(chat: Chat, values: StoredModeration) -> None:
    chat.moderation_enabled = values.enabled
    chat.moderation_mode = str(values.mode)
    chat.moderation_sensitivity = str(values.sensitivity)
    chat.moderation_min_hashtags = values.min_hashtags


def _upsert_insert(session: AsyncSession) -> Callable[..., Any]:
    """The session's dialect's INSERT, the one with ON CONFLICT DO UPDATE (PostgreSQL's or SQLite's)."""
    return postgresql_insert if session.bind.dialect.name == "postgresql" else sqlite_insert


async def count_photo(session: AsyncSession, chat_id: int, today: date | None = None) -> bool:
    """One more photo seen in the chat, in its total and in today's (UTC) count. Both are atomic increments
    (an upsert for the day's row), so concurrent replicas don't lose counts. False, and nothing counted, when
    the chat has no row (`ensure_chat` creates it)."""
    seen = await session.execute(
        update(Chat).where(Chat.id == chat_id).values(photos_seen=Chat.photos_seen + 1)
    )
    if not seen.rowcount:
        return False
    day = today or datetime.now(UTC).date()
    row = _upsert_insert(session)(ChatDay).values(chat_id=chat_id, day=day, photos=1)
    await session.execute(row.on_conflict_do_update(
        index_elements=[ChatDay.chat_id, ChatDay.day], set_={"photos": ChatDay.photos + 1}
    ))
    return True


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
    file_id: str | None = None,
    offered: Sequence[tuple[str, float]] = (),
) -> int:
    """`file_id`: pass it only when the chat keeps photo ids (`Chat.keep_photo_ids`). `offered`: every tag
    offered with its probability, best first (`ClassifyResult.suggestions`; empty when abstaining)."""
    suggestion = Suggestion(
        chat_id=chat_id,
        user_id=user_id,
        file_unique_id=file_unique_id,
        file_id=file_id,
        tag=tag,
        confidence=confidence,
        offered=[{"tag": offered_tag, "probability": probability} for offered_tag, probability in offered],
        model_version=model_version,
        latency_ms=latency_ms,
    )
    session.add(suggestion)
    await session.flush()
    return suggestion.id


async def _rate(
    session: AsyncSession, suggestion_id: int, user_id: int, still_open: ColumnElement[bool], **values: object
) -> Rating:
    result = await session.execute(
        update(Suggestion)
        .where(Suggestion.id == suggestion_id, Suggestion.user_id == user_id, still_open)
        .values(**values)
    )
    if result.rowcount == 1:
        return Rating.STORED
    owner = await session.scalar(select(Suggestion.user_id).where(Suggestion.id == suggestion_id))
    return Rating.ALREADY if owner == user_id else Rating.NOT_YOURS


async def set_feedback(session: AsyncSession, suggestion_id: int, user_id: int, feedback: str) -> Rating:
    """Store 👍/👎 on the user's own suggestion, once."""
    if feedback not in FEEDBACK_VALUES:
        raise ValueError(f"feedback must be one of {FEEDBACK_VALUES}, got {feedback!r}")
    return await _rate(
        session,
        suggestion_id,
        user_id,
        Suggestion.feedback.is_(None),
        feedback=feedback,
        feedback_at=datetime.now(UTC),
    )


async def set_correction(session: AsyncSession, suggestion_id: int, user_id: int, tag: str) -> Rating:
    """Store the tag the user picked, once: after their 👎 (`other`: none of these), or after their 👍 on a
    list one of its tags (the keyboard offers only those; a forged press with another is refused)."""
    listed = tag in await offered_tags(session, suggestion_id)
    on_a_list = (Suggestion.feedback == "up") & (func.json_array_length(Suggestion.offered) > 1) & listed
    return await _rate(
        session,
        suggestion_id,
        user_id,
        ((Suggestion.feedback == "down") | on_a_list) & Suggestion.corrected_tag.is_(None),
        corrected_tag=tag,
        corrected_at=datetime.now(UTC),
    )


async def offered_tags(session: AsyncSession, suggestion_id: int) -> list[str]:
    """The tags offered for a suggestion, best first ([] when it abstained, or is from before lists)."""
    offered = await session.scalar(select(Suggestion.offered).where(Suggestion.id == suggestion_id))
    return [str(entry["tag"]) for entry in offered or ()]


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
    model_version: str | None,
    caption_scene_tags: Sequence[str] | None = None,
    file_unique_id: str | None = None,
    file_id: str | None = None,
    reason: str | None = None,
    picture_hash: str | None = None,
    media_group_id: str | None = None,
    album_photos: Sequence[AlbumPhoto] = (),
    matched_entry_id: int | None = None,
) -> int:
    """`file_id`: pass it only when the chat keeps photo ids (`Chat.keep_photo_ids`). `model_version` is None
    for a photo no model judged (a known spam picture, an admin's "spam"). An album's flag is on its
    captioned photo (`message_id`) and names every photo of the album (`album_photos`)."""
    flag = Flag(
        chat_id=chat_id,
        message_id=message_id,
        user_id=user_id,
        caption_tags=list(caption_tags),
        caption_scene_tags=None if caption_scene_tags is None else sorted(caption_scene_tags),
        predicted_tag=predicted_tag,
        confidence=confidence,
        compatible_probability=compatible_probability,
        action=action,
        model_version=model_version,
        file_unique_id=file_unique_id,
        file_id=file_id,
        reason=reason,
        picture_hash=picture_hash,
        media_group_id=media_group_id,
        album_photos=[asdict(photo) for photo in album_photos] or None,
        matched_entry_id=matched_entry_id,
    )
    session.add(flag)
    await session.flush()
    return flag.id


async def set_flag_action(session: AsyncSession, flag_id: int, action: str) -> None:
    """The action finally taken on a recorded flag (a delete the bot was not allowed becomes a flag)."""
    await session.execute(update(Flag).where(Flag.id == flag_id).values(action=action))


async def flag_of_message(
    session: AsyncSession, chat_id: int, message_id: int, media_group_id: str | None = None
) -> Flag | None:
    """The flag recorded on a message of the chat, or on the album (`media_group_id`) it belongs to (the
    newest, should there be several)."""
    on_message = Flag.message_id == message_id
    if media_group_id is not None:
        on_message = on_message | (Flag.media_group_id == media_group_id)
    return await session.scalar(
        select(Flag).where(Flag.chat_id == chat_id, on_message).order_by(Flag.id.desc()).limit(1)
    )


async def record_verdict(
    session: AsyncSession, flag_id: int, chat_id: int, admin_id: int, verdict: str
) -> Flag | None:
    """Record an admin's verdict (`VERDICTS`) on a flag of this chat, the flag; None when there is no such
    flag. The last verdict stands: "not spam" after "spam" also takes the flag's pictures off the
    blocklist, and "not spam" on a known spam picture's catch takes the entry it matched off the group's own
    list (an entry of every group's list stays: only an operator removes it)."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
    flag = await session.scalar(select(Flag).where(Flag.id == flag_id, Flag.chat_id == chat_id))
    if flag is None:
        return None
    flag.admin_verdict, flag.verdict_by, flag.verdict_at = verdict, admin_id, datetime.now(UTC)
    if verdict == NOT_SPAM:
        await session.execute(delete(SpamPicture).where(SpamPicture.source_flag_id == flag_id))
        if flag.matched_entry_id is not None:
            await session.execute(
                delete(SpamPicture).where(SpamPicture.id == flag.matched_entry_id, _on_list(chat_id))
            )
    await session.flush()
    return flag


def _on_list(chat_id: int | None) -> ColumnElement[bool]:
    """The entries of a chat's own blocklist (`chat_id` None: of the global one)."""
    return SpamPicture.chat_id.is_(None) if chat_id is None else SpamPicture.chat_id == chat_id


async def block_picture(
    session: AsyncSession, chat_id: int | None, picture_hash: str, added_by: int, source_flag_id: int | None
) -> SpamPicture:
    """Put a picture on a chat's blocklist (`chat_id` None: every chat's); the entry already there when the
    same hash is on that list."""
    entry = await session.scalar(
        select(SpamPicture).where(_on_list(chat_id), SpamPicture.hash == picture_hash)
    )
    if entry is None:
        entry = SpamPicture(
            chat_id=chat_id, hash=picture_hash, added_by=added_by, source_flag_id=source_flag_id, hits=0
        )
        session.add(entry)
        await session.flush()
    return entry


async def mark_spam(
    session: AsyncSession,
    flag_id: int,
    chat_id: int,
    admin_id: int,
    *,
    picture_hash: str | None = None,
    everywhere: bool = False,
) -> tuple[Flag, SpamPicture | None] | None:
    """An admin's "spam" on a flag of this chat (the bot's button and /spam, the dashboard's button): the
    verdict, and the flag's picture (`picture_hash` when the flag has none) on the chat's blocklist, or on
    every chat's when an operator says `everywhere`; an album's flag blocks each of its pictures. The flag
    and its (first) picture's entry (None: no picture hash); None when the chat has no such flag."""
    flag = await record_verdict(session, flag_id, chat_id, admin_id, SPAM)
    if flag is None:
        return None
    flag.picture_hash = flag.picture_hash or picture_hash
    listed = None if everywhere else chat_id
    entries = [
        await block_picture(session, listed, picture, admin_id, flag.id) for picture in flag.picture_hashes
    ]
    return flag, entries[0] if entries else None


async def blocklist(session: AsyncSession, chat_id: int) -> Sequence[SpamPicture]:
    """The pictures a chat's photos are checked against, newest first: its own list and the global one."""
    rows = await session.scalars(
        select(SpamPicture)
        .where((SpamPicture.chat_id == chat_id) | SpamPicture.chat_id.is_(None))
        .order_by(SpamPicture.added_at.desc(), SpamPicture.id.desc())
    )
    return rows.all()


async def count_hit(session: AsyncSession, entry_id: int) -> None:
    """One more photo the entry caught (an atomic increment: replicas may count at once)."""
    await session.execute(
        update(SpamPicture).where(SpamPicture.id == entry_id).values(hits=SpamPicture.hits + 1)
    )


async def unblock_picture(session: AsyncSession, entry_id: int, chat_id: int | None) -> bool:
    """Take an entry off a chat's list (`chat_id` None: off the global list); False when it is not there."""
    result = await session.execute(delete(SpamPicture).where(SpamPicture.id == entry_id, _on_list(chat_id)))
    return result.rowcount == 1


async def set_keep_photo_ids(session: AsyncSession, chat: Chat, keep: bool) -> None:
    """The chat's opt-in to keeping photo ids; opting out also forgets the ids it already kept."""
    chat.keep_photo_ids = keep
    if not keep:
        for table in (Suggestion, Flag):
            await session.execute(update(table).where(table.chat_id == chat.id).values(file_id=None))


async def training_feedback(session: AsyncSession) -> tuple[Sequence[Suggestion], Sequence[Flag]]:
    """Rows that can become labelled photos (`ml feedback export`): suggestions with a 👍 or a correction
    and flags an admin gave a verdict ("not spam" or "spam"), each with a kept file_id, in chats that still
    keep them."""
    keeping = select(Chat.id).where(Chat.keep_photo_ids.is_(True))
    suggestions = await session.scalars(
        select(Suggestion)
        .where(
            Suggestion.file_id.is_not(None),
            Suggestion.chat_id.in_(keeping),
            (Suggestion.feedback == "up") | Suggestion.corrected_tag.is_not(None),
        )
        .order_by(Suggestion.id)
    )
    flags = await session.scalars(
        select(Flag)
        .where(Flag.file_id.is_not(None), Flag.chat_id.in_(keeping), Flag.admin_verdict.in_(VERDICTS))
        .order_by(Flag.id)
    )
    return suggestions.all(), flags.all()


@dataclass(frozen=True)
class VersionFeedback:
    """What one model version's answers got (`ml canary report` compares the active model and its canary)."""

    version: str
    photos: int  # suggestions stored (private chats), abstentions included
    suggested: int  # of which a tag was suggested
    mean_confidence: float | None  # of the top tag, over all its photos
    up: int
    down: int
    corrected: int  # 👎 followed by the user's own pick (a pick from a list after 👍 is not a correction)
    flags: int  # group photos it flagged
    not_spam: int  # of which an admin said "not spam"


async def version_feedback(
    session: AsyncSession, version: str, since: datetime | None = None
) -> VersionFeedback:
    """Counts over the suggestions and flags `version` made (since `since`, UTC, when given)."""
    after = [Suggestion.created_at >= since] if since else []
    answered = (await session.execute(
        select(
            func.count(),
            func.count(Suggestion.tag),
            func.avg(Suggestion.confidence),
            func.count().filter(Suggestion.feedback == "up"),
            func.count().filter(Suggestion.feedback == "down"),
            func.count(Suggestion.corrected_tag).filter(Suggestion.feedback == "down"),
        ).where(Suggestion.model_version == version, *after)
    )).one()
    flagged = (await session.execute(
        select(func.count(), func.count().filter(Flag.admin_verdict == NOT_SPAM))
        .where(Flag.model_version == version, *([Flag.created_at >= since] if since else []))
    )).one()
    photos, suggested, confidence, up, down, corrected = answered
    return VersionFeedback(version, photos, suggested, None if confidence is None else float(confidence), up,
                           down, corrected, *flagged)


async def chat_stats(session: AsyncSession, chat_id: int) -> ChatStats:
    photos = await session.scalar(select(Chat.photos_seen).where(Chat.id == chat_id))
    suggestions = await session.scalar(
        select(func.count())
        .select_from(Suggestion)
        .where(Suggestion.chat_id == chat_id, Suggestion.tag.is_not(None))
    )
    # The bot's flags: an admin's "spam" on a photo the bot let pass is a row too, but not one of them.
    flags = await session.scalar(
        select(func.count()).select_from(Flag).where(Flag.chat_id == chat_id, Flag.action != ADMIN_ACTION)
    )
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
    # Photos the chat sent that day (`ChatDay`); for days before that count was kept (migration 0006), the
    # photos with a stored record (suggestions, abstentions included, and flags) if they are more.
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
    counted = await session.execute(
        select(ChatDay.day, ChatDay.photos)
        .where(ChatDay.chat_id == chat_id, ChatDay.day.between(first, today))
    )
    photos_by_day: dict[date, int] = {day: photos for day, photos in counted}
    series = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        records, suggested = by_day.get(day.isoformat(), (0, 0))
        flags = flags_by_day.get(day.isoformat(), 0)
        photos = max(photos_by_day.get(day, 0), records + flags)
        series.append(DayStats(day, photos=photos, suggestions=suggested, flags=flags))
    return series


@dataclass(frozen=True)
class WeekStats:
    """One UTC week (Monday to Sunday) of a group's moderation, counted from its flag rows by the day the
    photo was flagged; a verdict given later counts in the week of its photo."""

    week: date  # the week's Monday
    flags: int  # photos the bot flagged, deleted or recorded (dry run), known spam pictures included
    not_spam: int  # of those, the ones an admin called "not spam"
    spam: int = 0  # admins' "spam" verdicts: on the bot's flags and on photos it let pass
    blocklist_hits: int = 0  # of the flags, photos that matched a known spam picture

    @property
    def false_flag_share(self) -> float | None:
        """The share of the week's flags that admins called "not spam"; None for a week without flags."""
        return self.not_spam / self.flags if self.flags else None


# Stored values of moderation.verdict's Action.ADMIN and Reason.KNOWN_SPAM_PICTURE (a test keeps them equal).
ADMIN_ACTION = "admin"
KNOWN_SPAM_REASON = "known_spam_picture"


def week_start(day: date) -> date:
    """The Monday of `day`'s week."""
    return day - timedelta(days=day.weekday())


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((condition, 1), else_=0))


async def chat_weekly_stats(
    session: AsyncSession, chat_id: int, today: date, weeks: int = 4
) -> list[WeekStats]:
    """The chat's last `weeks` UTC weeks up to `today`'s, oldest first, with zeros for weeks without flags."""
    first = week_start(today) - timedelta(weeks=weeks - 1)
    flag_day = utc_day(Flag.created_at)
    by_bot = Flag.action != ADMIN_ACTION
    rows = await session.execute(
        select(
            flag_day,
            _count(by_bot),
            _count(by_bot & (Flag.admin_verdict == NOT_SPAM)),
            _count(Flag.admin_verdict == SPAM),
            _count(by_bot & (Flag.reason == KNOWN_SPAM_REASON)),
        )
        .where(Flag.chat_id == chat_id, flag_day.between(first.isoformat(), today.isoformat()))
        .group_by(flag_day)
    )
    counts = {first + timedelta(weeks=n): [0, 0, 0, 0] for n in range(weeks)}
    for day, *numbers in rows:
        week = counts[week_start(date.fromisoformat(day))]
        for index, number in enumerate(numbers):
            week[index] += int(number or 0)
    return [WeekStats(week, *numbers) for week, numbers in counts.items()]


@dataclass(frozen=True)
class MemberStanding:
    clean_posts: int  # in a row
    approved: bool  # an admin trusted them (`/trust`)


async def member_standing(session: AsyncSession, chat_id: int, user_id: int) -> MemberStanding:
    member = await session.get(Member, (chat_id, user_id))
    if member is None:
        return MemberStanding(clean_posts=0, approved=False)
    return MemberStanding(member.clean_posts, member.approved_by is not None)


async def record_post(session: AsyncSession, chat_id: int, user_id: int, *, clean: bool) -> None:
    """One more judged post by the member: clean adds to the count (atomically: replicas may judge two of
    their photos at once); flagged starts it again. An admin's approval stays."""
    counted = {"clean_posts": Member.clean_posts + 1 if clean else 0}
    await _upsert_member(session, chat_id, user_id, clean_posts=int(clean), on_conflict=counted)


async def set_approval(session: AsyncSession, chat_id: int, user_id: int, admin_id: int | None) -> None:
    """An admin trusts the member (`admin_id`), or takes that back (None: their clean posts count from 0)."""
    approval: dict[str, Any] = {
        "approved_by": admin_id,
        "approved_at": None if admin_id is None else datetime.now(UTC),
    }
    revoked = {} if admin_id is not None else {"clean_posts": 0}
    await _upsert_member(session, chat_id, user_id, clean_posts=0, **approval, on_conflict=approval | revoked)


async def _upsert_member(
    session: AsyncSession, chat_id: int, user_id: int, *, on_conflict: dict[str, Any], **values: Any
) -> None:
    row = _upsert_insert(session)(Member).values(chat_id=chat_id, user_id=user_id, **values)
    await session.execute(
        row.on_conflict_do_update(index_elements=[Member.chat_id, Member.user_id], set_=on_conflict)
    )
