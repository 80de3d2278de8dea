"""web.queries against a real migrated database: SQLite, and PostgreSQL when one answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from moderation.verdict import ModerationMode, ModerationSettings, Sensitivity
from storage.models import Chat
from tests.web_support import MODEL_A, MODEL_B, Seeded, migrated, seed
from web import queries
from web.series import window_stats

NOW = datetime.now(UTC)
CLUB, QUIET = -1001234567890, -4567


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'web.sqlite3'}"
    return request.getfixturevalue("postgres_url")  # skips when no PostgreSQL answers


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[tuple[async_sessionmaker[AsyncSession], Seeded]]:
    async with migrated(database_url) as sessions:
        yield sessions, await seed(sessions, NOW, CLUB, QUIET)


async def test_latency_samples_since(database) -> None:
    sessions, _ = database
    async with sessions() as session:
        day = await queries.latency_samples(session, NOW - timedelta(days=1))
        hour = window_stats(day, NOW - timedelta(hours=1), NOW)
    assert len(day) == 11  # the suggestion three days old is left out
    assert hour.photos == 8
    assert hour.latency_ms == {50: 400.0, 95: 2000.0, 99: 2000.0}


async def test_tag_feedback_per_model_version(database) -> None:
    sessions, _ = database
    async with sessions() as session:
        rows = await queries.tag_feedback(session)
    found = {(r.model_version, r.tag): (r.suggestions, r.rated, r.up) for r in rows}
    assert found == {(MODEL_A, "cafe"): (6, 4, 3), (MODEL_A, None): (2, 0, 0), (MODEL_B, "water"): (4, 2, 1)}
    assert [r.model_version for r in rows] == [MODEL_A, MODEL_A, MODEL_B]  # the latest version first
    cafe = next(r for r in rows if r.tag == "cafe")
    assert cafe.up_rate == 0.75
    assert next(r for r in rows if r.tag is None).up_rate is None


async def test_chat_summaries_list_groups_with_their_flags(database) -> None:
    sessions, seeded = database
    async with sessions() as session:
        every = await queries.chat_summaries(session)
        only_quiet = await queries.chat_summaries(session, [seeded.quiet, seeded.private])
        ids = await queries.group_chat_ids(session)
    assert [s.id for s in every] == [CLUB, QUIET]  # busiest first; the private chat is no group
    club = every[0]
    assert (club.photos_seen, club.flags, club.not_spam, club.settings.enabled) == (40, 3, 1, True)
    assert abs(club.last_flag_at.replace(tzinfo=UTC) - (NOW - timedelta(minutes=10))) < timedelta(seconds=1)
    assert [(s.id, s.flags, s.not_spam, s.last_flag_at) for s in only_quiet] == [(QUIET, 0, 0, None)]
    assert sorted(ids) == sorted([CLUB, QUIET])


async def test_recent_flags_newest_first(database) -> None:
    sessions, seeded = database
    async with sessions() as session:
        flags = await queries.recent_flags(session, seeded.club, limit=2)
        none = await queries.recent_flags(session, seeded.quiet)
    assert [(f.message_id, f.caption_tags, f.admin_verdict, f.verdict_by) for f in flags] == [
        (12, ["forest"], "not_spam", 5001),
        (11, ["beach", "sport"], None, None),
    ]
    assert none == []


async def test_change_settings_stores_them_and_returns_the_old(database) -> None:
    sessions, seeded = database
    wanted = ModerationSettings(True, ModerationMode.DRY_RUN, Sensitivity.STRICT, 4)
    async with sessions.begin() as session:
        before = await queries.change_settings(session, seeded.quiet, wanted)
        assert await queries.change_settings(session, seeded.private, wanted) is None  # no group
        assert await queries.change_settings(session, 123456, wanted) is None
    assert before == ModerationSettings(False, ModerationMode.FLAG, Sensitivity.BALANCED, 2)
    async with sessions() as session:
        stored = await session.get(Chat, seeded.quiet)
    assert (stored.moderation_enabled, stored.moderation_mode, stored.moderation_sensitivity) == (
        True,
        "dry-run",
        "strict",
    )
    assert stored.moderation_min_hashtags == 4
