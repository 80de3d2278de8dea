"""Shared by the web tests: a migrated database filled with real rows, and the login link the Telegram Login
Widget would redirect to (signed with the test bot's token, as Telegram signs it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.migrate import upgrade_to_head
from storage.models import Chat, Flag, Suggestion
from storage.session import create_engine, create_sessionmaker
from web.auth import login_hash

SESSION_SECRET = "test-session-secret-of-at-least-32-chars"
MODEL_A, MODEL_B = "a1b2c3d4e5f6", "0f9e8d7c6b5a"


@dataclass(frozen=True)
class Seeded:
    club: int  # a supergroup with moderation on and flags
    quiet: int  # a basic group, moderation off, no flags
    private: int  # a private chat (suggestions only; never listed)


@asynccontextmanager
async def migrated(url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(url)
    await upgrade_to_head(engine)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


def chat(chat_id: int, chat_type: str, photos: int, enabled: bool) -> Chat:
    return Chat(
        id=chat_id,
        type=chat_type,
        photos_seen=photos,
        moderation_enabled=enabled,
        moderation_mode="flag",
        moderation_sensitivity="balanced",
        moderation_min_hashtags=2,
    )


async def seed(sessions: async_sessionmaker[AsyncSession], now: datetime, club: int, quiet: int) -> Seeded:
    """Chats, suggestions over the last day (two model versions, 👍/👎) and flags with an admin's verdict."""
    private = 777

    def minutes(n: int) -> datetime:
        return now - timedelta(minutes=n)

    async with sessions.begin() as session:
        session.add_all([chat(club, "supergroup", 40, True), chat(quiet, "group", 3, False)])
        session.add(chat(private, "private", 12, False))
        await session.flush()
        # Model A: 6 #cafe in the last hour (latency 100..600 ms, 4 rated: 3 up), 2 abstentions; model B
        # earlier in the day: 3 #water (1 up of 2 rated).
        a_hour = [
            (
                "cafe",
                100.0 * (n + 1),
                minutes(5 + n),
                ("up", "up", "up", "down", None, None)[n],
            )
            for n in range(6)
        ]
        a_abstained = [(None, 2000.0, minutes(20 + n), None) for n in range(2)]
        for tag, latency, at, feedback in [*a_hour, *a_abstained]:
            session.add(suggestion(private, tag, MODEL_A, latency=latency, at=at, feedback=feedback))
        for n, feedback in enumerate(("up", "down", None)):
            at = now - timedelta(hours=5 + n)
            session.add(suggestion(private, "water", MODEL_B, latency=900.0, at=at, feedback=feedback))
        # Outside the last day: counted per version, not in the latency windows.
        session.add(
            suggestion(private, "water", MODEL_B, latency=50.0, at=now - timedelta(days=3), feedback=None)
        )
        session.add_all(
            [
                flag(club, 11, ["beach", "sport"], "cafe", confidence=0.91, action="flag", at=minutes(30)),
                flag(
                    club,
                    12,
                    ["forest"],
                    "bar",
                    confidence=0.77,
                    action="flag",
                    at=minutes(10),
                    verdict_by=5001,
                ),
                flag(
                    club, 13, ["snow", "church"], "street", confidence=0.64, action="record", at=minutes(120)
                ),
            ]
        )
    return Seeded(club, quiet, private)


def suggestion(
    chat_id: int, tag: str | None, version: str, *, latency: float, at: datetime, feedback: str | None
) -> Suggestion:
    return Suggestion(
        chat_id=chat_id,
        user_id=chat_id,
        file_unique_id="AgADBAAD",
        tag=tag,
        confidence=0.8,
        model_version=version,
        latency_ms=latency,
        feedback=feedback,
        created_at=at,
    )


def flag(
    chat_id: int,
    message_id: int,
    caption_tags: list[str],
    predicted: str,
    *,
    confidence: float,
    action: str,
    at: datetime,
    verdict_by: int | None = None,
) -> Flag:
    return Flag(
        chat_id=chat_id,
        message_id=message_id,
        user_id=9000 + message_id,
        caption_tags=caption_tags,
        predicted_tag=predicted,
        confidence=confidence,
        compatible_probability=0.0015,
        action=action,
        admin_verdict="not_spam" if verdict_by else None,
        verdict_by=verdict_by,
        created_at=at,
    )


def login_query(token: str, user_id: int, first_name: str, auth_date: int) -> str:
    """The query string the Login Widget redirects to /auth/telegram with."""
    fields = {"id": str(user_id), "first_name": first_name, "auth_date": str(auth_date)}
    return urlencode(fields | {"hash": login_hash(fields, token)})
