"""What the dashboard reads from (and the one thing it writes to) the database: small async functions,
each taking a session and committing nothing itself (as `storage.repository`)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from moderation.verdict import ModerationSettings
from storage.models import Chat, Flag, Suggestion
from storage.repository import NOT_SPAM, StoredModeration, store_moderation, stored_moderation

# Chats that can be moderated (and so have admins and settings worth a page).
GROUP_TYPES = ("group", "supergroup")


async def latency_samples(session: AsyncSession, since: datetime) -> list[tuple[datetime, float]]:
    """(answered at, photo-to-reply latency in ms) of every suggestion since `since`.

    One narrow row per photo: a day of a busy bot is some 10^5 pairs, aggregated in Python (web.series)
    because SQLite has no percentile function and the two dialects bucket time differently."""
    rows = await session.execute(
        select(Suggestion.created_at, Suggestion.latency_ms).where(Suggestion.created_at >= since)
    )
    return [(at, latency) for at, latency in rows]


@dataclass(frozen=True)
class TagFeedback:
    """One tag's suggestions under one model version and what users said of them."""

    model_version: str
    tag: str | None  # None: the model abstained
    suggestions: int
    rated: int  # with a 👍 or 👎
    up: int
    last_at: datetime

    @property
    def up_rate(self) -> float | None:
        return self.up / self.rated if self.rated else None


async def tag_feedback(session: AsyncSession) -> list[TagFeedback]:
    """Suggestions and 👍 per (model version, tag), the most recently serving version first."""
    up = func.sum(case((Suggestion.feedback == "up", 1), else_=0))
    rows = await session.execute(
        select(
            Suggestion.model_version,
            Suggestion.tag,
            func.count(),
            func.count(Suggestion.feedback),
            up,
            func.max(Suggestion.created_at),
        ).group_by(Suggestion.model_version, Suggestion.tag)
    )
    found = [TagFeedback(v, tag, n, rated, int(ups or 0), last) for v, tag, n, rated, ups, last in rows]
    version_last = {}
    for row in found:
        version_last[row.model_version] = max(version_last.get(row.model_version, row.last_at), row.last_at)
    return sorted(
        found, key=lambda r: (version_last[r.model_version], r.model_version, r.suggestions), reverse=True
    )


@dataclass(frozen=True)
class ChatSummary:
    id: int
    type: str
    photos_seen: int
    settings: ModerationSettings
    flags: int
    not_spam: int
    last_flag_at: datetime | None


async def group_chat_ids(session: AsyncSession) -> list[int]:
    """Every group the bot has seen (the candidates an admin's chats are looked up among)."""
    return list(await session.scalars(select(Chat.id).where(Chat.type.in_(GROUP_TYPES)).order_by(Chat.id)))


async def chat_summaries(session: AsyncSession, chat_ids: Collection[int] | None = None) -> list[ChatSummary]:
    """Groups with their settings and flag counts, busiest first; `chat_ids` limits them (None: all)."""
    flags = (
        select(
            Flag.chat_id,
            func.count().label("flags"),
            func.sum(case((Flag.admin_verdict == NOT_SPAM, 1), else_=0)).label("not_spam"),
            func.max(Flag.created_at).label("last_flag_at"),
        )
        .group_by(Flag.chat_id)
        .subquery()
    )
    query = (
        select(Chat, flags.c.flags, flags.c.not_spam, flags.c.last_flag_at)
        .outerjoin(flags, flags.c.chat_id == Chat.id)
        .where(Chat.type.in_(GROUP_TYPES))
        .order_by(Chat.photos_seen.desc(), Chat.id)
    )
    if chat_ids is not None:
        query = query.where(Chat.id.in_(list(chat_ids)))
    rows = await session.execute(query)
    return [
        ChatSummary(
            chat.id, chat.type, chat.photos_seen, _settings(chat), n or 0, int(fp or 0), last
        )
        for chat, n, fp, last in rows
    ]


async def chat_summary(session: AsyncSession, chat_id: int) -> ChatSummary | None:
    found = await chat_summaries(session, [chat_id])
    return found[0] if found else None


async def recent_flags(session: AsyncSession, chat_id: int, limit: int = 50) -> list[Flag]:
    query = select(Flag).where(Flag.chat_id == chat_id).order_by(Flag.created_at.desc(), Flag.id.desc())
    return list(await session.scalars(query.limit(limit)))


async def change_settings(
    session: AsyncSession, chat_id: int, settings: ModerationSettings
) -> ModerationSettings | None:
    """Store a group's new moderation settings; the previous ones, or None when there is no such group."""
    chat = await session.get(Chat, chat_id)
    if chat is None or chat.type not in GROUP_TYPES:
        return None
    before = _settings(chat)
    store_moderation(chat, StoredModeration(**asdict(settings)))
    return before


def _settings(chat: Chat) -> ModerationSettings:
    return ModerationSettings(**asdict(stored_moderation(chat)))
