"""Repository functions on a migrated SQLite database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from moderation.verdict import Action, Reason
from storage import repository
from storage.migrate import upgrade_to_head
from storage.models import Chat, Flag, Suggestion
from storage.repository import NOT_SPAM
from storage.session import create_engine, create_sessionmaker

DEFAULTS = repository.StoredModeration(enabled=False, mode="flag", sensitivity="lenient", min_hashtags=3)


@pytest.fixture
async def sessions(tmp_path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'bot.sqlite3'}")
    await upgrade_to_head(engine)
    yield create_sessionmaker(engine)
    await engine.dispose()



async def test_a_sqlite_file_is_in_wal_mode_without_an_fsync_per_commit(sessions):
    # Concurrent photos' commits must not queue behind each other's fsyncs (storage.session).
    async with sessions() as session:
        assert (await session.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await session.execute(text("PRAGMA synchronous"))).scalar() == 1  # NORMAL


async def suggest(
    session, chat_id: int, user_id: int, tag: str | None, file_id: str | None = None, *,
    offered: tuple[tuple[str, float], ...] = (),
) -> int:
    return await repository.add_suggestion(
        session,
        chat_id=chat_id,
        user_id=user_id,
        file_unique_id="AgADBAAD",
        tag=tag,
        confidence=0.8,
        model_version="abc123",
        latency_ms=812.5,
        file_id=file_id,
        offered=offered,
    )


async def add_flag(session, chat_id: int, message_id: int = 1, file_id: str | None = None) -> int:
    return await repository.add_flag(
        session,
        chat_id=chat_id,
        message_id=message_id,
        user_id=5,
        caption_tags=("beach", "sport"),
        predicted_tag="cafe",
        confidence=0.9,
        compatible_probability=0.004,
        action="delete",
        model_version="abc123",
        caption_scene_tags={"water", "sport"},
        file_unique_id="AQADflag",
        file_id=file_id,
    )


async def test_a_new_chat_gets_the_defaults_and_keeps_its_changes(sessions):
    async with sessions.begin() as session:
        chat = await repository.ensure_chat(session, -100, "supergroup", DEFAULTS)
        assert repository.stored_moderation(chat) == DEFAULTS
        changed = repository.StoredModeration(
            enabled=True, mode="delete", sensitivity="strict", min_hashtags=2
        )
        repository.store_moderation(chat, changed)
    async with sessions.begin() as session:
        chat = await repository.ensure_chat(session, -100, "supergroup", DEFAULTS)
        assert repository.stored_moderation(chat) == changed


async def test_feedback_is_stored_only_for_the_suggestions_own_user(sessions):
    async with sessions.begin() as session:
        await repository.ensure_chat(session, 10, "private", DEFAULTS)
        suggestion_id = await suggest(session, 10, user_id=10, tag="cafe")
    async with sessions.begin() as session:
        not_yours = repository.Rating.NOT_YOURS
        assert await repository.set_feedback(session, suggestion_id, user_id=11, feedback="down") == not_yours
        assert await repository.set_feedback(session, suggestion_id + 1, 10, feedback="down") == not_yours
        assert await repository.set_feedback(session, suggestion_id, user_id=10, feedback="up") == "stored"
        # Once: a second press (a stale button) changes nothing.
        assert await repository.set_feedback(session, suggestion_id, user_id=10, feedback="down") == "already"
    async with sessions() as session:
        stored = await session.get(Suggestion, suggestion_id)
        assert (stored.feedback, stored.tag, stored.model_version, stored.latency_ms) == (
            "up",
            "cafe",
            "abc123",
            812.5,
        )
        assert stored.feedback_at is not None and stored.corrected_tag is None
    with pytest.raises(ValueError, match="feedback"):
        async with sessions.begin() as session:
            await repository.set_feedback(session, suggestion_id, user_id=10, feedback="meh")


async def test_not_spam_only_within_the_flags_chat(sessions):
    async with sessions.begin() as session:
        await repository.ensure_chat(session, -1, "group", DEFAULTS)
        await repository.ensure_chat(session, -2, "group", DEFAULTS)
        flag_id = await add_flag(session, -1, message_id=77)
    async with sessions.begin() as session:
        assert not await repository.record_verdict(session, flag_id, chat_id=-2, admin_id=1, verdict=NOT_SPAM)
        assert await repository.record_verdict(session, flag_id, chat_id=-1, admin_id=1, verdict=NOT_SPAM)
    async with sessions() as session:
        flag = (await session.scalars(select(Flag))).one()
        assert (flag.caption_tags, flag.admin_verdict, flag.verdict_by) == (["beach", "sport"], "not_spam", 1)
        assert flag.compatible_probability == pytest.approx(0.004)
        assert (flag.model_version, flag.caption_scene_tags) == ("abc123", ["sport", "water"])
        assert flag.verdict_at is not None


async def test_stats_count_this_chat_only(sessions):
    async with sessions.begin() as session:
        for chat_id in (-1, -2):
            await repository.ensure_chat(session, chat_id, "group", DEFAULTS)
        for _ in range(3):
            await repository.count_photo(session, -1)
        await repository.count_photo(session, -2)
        await suggest(session, -1, 5, "cafe")
        await suggest(session, -1, 5, None)  # abstained: not a suggestion
        await suggest(session, -2, 5, "bar")
        for chat_id, message_id in ((-1, 1), (-1, 2), (-2, 3)):
            flag_id = await add_flag(session, chat_id, message_id)
        await repository.record_verdict(session, flag_id, chat_id=-2, admin_id=1, verdict=NOT_SPAM)
    async with sessions() as session:
        assert await repository.chat_stats(session, -1) == repository.ChatStats(3, 1, 2, 0)
        assert await repository.chat_stats(session, -2) == repository.ChatStats(1, 1, 1, 1)
        assert await repository.chat_stats(session, -3) == repository.ChatStats(0, 0, 0, 0)


async def test_a_correction_only_after_the_users_own_thumbs_down_and_only_once(sessions):
    async with sessions.begin() as session:
        await repository.ensure_chat(session, 10, "private", DEFAULTS)
        suggestion_id = await suggest(session, 10, user_id=10, tag="cafe")
    async with sessions.begin() as session:
        # Before 👎 there is no question to answer.
        assert await repository.set_correction(session, suggestion_id, 10, "bar") == "already"
        assert await repository.set_feedback(session, suggestion_id, 10, "down") == "stored"
        assert await repository.set_correction(session, suggestion_id, 11, "bar") == "not_yours"
        assert await repository.set_correction(session, suggestion_id, 10, "bar") == "stored"
        assert await repository.set_correction(session, suggestion_id, 10, "other") == "already"
    async with sessions() as session:
        stored = await session.get(Suggestion, suggestion_id)
        assert (stored.feedback, stored.corrected_tag) == ("down", "bar")
        assert stored.corrected_at is not None


async def test_training_feedback_and_opting_out_clears_the_chats_photo_ids(sessions):
    async with sessions.begin() as session:
        for chat_id in (10, 20, -1):
            chat = await repository.ensure_chat(session, chat_id, "private", DEFAULTS)
            assert chat.keep_photo_ids
        up = await suggest(session, 10, 10, "cafe", file_id="F-up")
        corrected = await suggest(session, 10, 10, "cafe", file_id="F-corrected")
        await suggest(session, 10, 10, "cafe", file_id="F-down")  # 👎 without a pick: no label
        await suggest(session, 10, 10, "cafe", file_id="F-unrated")
        await suggest(session, 10, 10, "cafe")  # no file id kept
        leaving = await suggest(session, 20, 20, "bar", file_id="F-leaving")
        not_spam = await add_flag(session, -1, 1, file_id="F-flag")
        await add_flag(session, -1, 2, file_id="F-flag-unjudged")
    async with sessions.begin() as session:
        await repository.set_feedback(session, up, 10, "up")
        await repository.set_feedback(session, corrected, 10, "down")
        await repository.set_correction(session, corrected, 10, "other")
        await repository.set_feedback(session, corrected + 1, 10, "down")
        await repository.set_feedback(session, leaving, 20, "up")
        await repository.record_verdict(session, not_spam, -1, admin_id=1, verdict=NOT_SPAM)
    async with sessions() as session:
        suggestions, flags = await repository.training_feedback(session)
        assert [s.file_id for s in suggestions] == ["F-up", "F-corrected", "F-leaving"]
        assert [f.file_id for f in flags] == ["F-flag"]

    async with sessions.begin() as session:
        chat = await repository.ensure_chat(session, 20, "private", DEFAULTS)
        await repository.set_keep_photo_ids(session, chat, False)
    async with sessions() as session:
        suggestions, _ = await repository.training_feedback(session)
        assert [s.file_id for s in suggestions] == ["F-up", "F-corrected"]
        kept = await session.scalars(select(Suggestion.file_id).where(Suggestion.chat_id == 20))
        assert kept.all() == [None]
        assert not (await session.get(Chat, 20)).keep_photo_ids


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """Both backends (PostgreSQL skips where no server answers); sync, as `postgres_url` is."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
async def any_sessions(database_url):
    engine = create_engine(database_url)
    await upgrade_to_head(engine)
    yield create_sessionmaker(engine)
    await engine.dispose()


async def test_a_list_is_stored_whole_and_a_thumbs_up_on_it_may_pick_one_once(any_sessions):
    async with any_sessions.begin() as session:
        await repository.ensure_chat(session, 10, "private", DEFAULTS)
        listed = await suggest(session, 10, 10, "cafe", offered=(("cafe", 0.5), ("bar", 0.35)))
        single = await suggest(session, 10, 10, "cafe", offered=(("cafe", 0.9),))
        abstained = await suggest(session, 10, 10, None)
    async with any_sessions.begin() as session:
        assert await repository.offered_tags(session, listed) == ["cafe", "bar"]
        assert await repository.offered_tags(session, abstained) == []
        for suggestion_id in (listed, single):
            assert await repository.set_feedback(session, suggestion_id, 10, "up") == "stored"
        # 👍 on one sure tag asks nothing; on a list, which of its tags, once.
        assert await repository.set_correction(session, single, 10, "bar") == "already"
        # A pick that is not on the list (a forged press: the keyboard shows only its tags) is refused.
        assert await repository.set_correction(session, listed, 10, "nature") == "already"
        assert await repository.set_correction(session, listed, 10, "bar") == "stored"
        assert await repository.set_correction(session, listed, 10, "cafe") == "already"
    async with any_sessions() as session:
        stored = await session.get(Suggestion, listed)
        assert stored.offered == [{"tag": "cafe", "probability": 0.5}, {"tag": "bar", "probability": 0.35}]
        assert (stored.feedback, stored.corrected_tag) == ("up", "bar")
        feedback = await repository.version_feedback(session, "abc123")
    assert (feedback.up, feedback.corrected) == (2, 0)  # a pick from a list is no correction


TODAY = date(2026, 3, 14)


def utc(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


async def flag_at(session, chat_id: int, when: datetime) -> None:
    flag_id = await add_flag(session, chat_id)
    await session.execute(update(Flag).where(Flag.id == flag_id).values(created_at=when))


async def suggest_at(session, chat_id: int, tag: str | None, when: datetime) -> None:
    suggestion_id = await suggest(session, chat_id, 5, tag)
    await session.execute(update(Suggestion).where(Suggestion.id == suggestion_id).values(created_at=when))


async def test_daily_stats_are_zero_filled_utc_days_of_this_chat(any_sessions):
    yesterday, first = TODAY - timedelta(days=1), TODAY - timedelta(days=13)
    async with any_sessions.begin() as session:
        for chat_id in (-1, -2):
            await repository.ensure_chat(session, chat_id, "group", DEFAULTS)
        await suggest_at(session, -1, "cafe", utc(TODAY, 9))
        await suggest_at(session, -1, None, utc(TODAY, 23, 59))  # abstained: a photo, not a suggestion
        await flag_at(session, -1, utc(TODAY, 0, 0))
        await flag_at(session, -1, utc(yesterday, 23, 59))
        await flag_at(session, -1, utc(first, 0, 0))
        await flag_at(session, -1, utc(first - timedelta(days=1), 23, 59))  # before the window
        await flag_at(session, -1, utc(TODAY + timedelta(days=1), 0, 0))  # after it
        await flag_at(session, -2, utc(TODAY, 12))  # another chat
    async with any_sessions() as session:
        if session.bind.dialect.name == "postgresql":  # days stay UTC days whatever the connection's zone
            await session.execute(text("SET TIME ZONE 'Asia/Tokyo'"))
        daily = await repository.chat_daily_stats(session, -1, today=TODAY)
    assert [d.day for d in daily] == [first + timedelta(days=n) for n in range(14)]
    counts = {
        d.day: (d.photos, d.suggestions, d.flags)
        for d in daily
        if (d.photos, d.suggestions, d.flags) != (0, 0, 0)
    }
    assert counts == {first: (1, 0, 1), yesterday: (1, 0, 1), TODAY: (3, 1, 1)}


async def test_daily_stats_of_a_chat_without_records(any_sessions):
    async with any_sessions() as session:
        daily = await repository.chat_daily_stats(session, -3, today=TODAY, days=3)
    assert daily == [repository.DayStats(TODAY - timedelta(days=n), 0, 0, 0) for n in (2, 1, 0)]


async def test_weekly_stats_count_flags_and_not_spam_verdicts_per_utc_week(any_sessions):
    """TODAY is a Saturday: its week starts on Monday the 9th; three weeks go back to the 23rd of February."""
    monday, previous_sunday = date(2026, 3, 9), date(2026, 3, 8)
    async with any_sessions.begin() as session:
        for chat_id in (-1, -2):
            await repository.ensure_chat(session, chat_id, "group", DEFAULTS)
        ours = [await add_flag(session, -1, message_id) for message_id in range(1, 7)]
        other = await add_flag(session, -2)
        for flag_id, when in zip(
            [*ours, other],
            [
                utc(TODAY, 23, 59),
                utc(monday, 0, 0),
                utc(previous_sunday, 23, 59),  # the week before
                utc(date(2026, 2, 23), 0, 0),  # the window's first moment
                utc(date(2026, 2, 22), 23, 59),  # before the window
                utc(TODAY + timedelta(days=1), 0, 0),  # after today
                utc(TODAY, 12),  # another chat
            ],
            strict=True,
        ):
            await session.execute(update(Flag).where(Flag.id == flag_id).values(created_at=when))
    async with any_sessions.begin() as session:
        for flag_id, chat_id in ((ours[0], -1), (ours[2], -1), (ours[4], -1), (other, -2)):
            await repository.record_verdict(session, flag_id, chat_id, 1, NOT_SPAM)
        # This week also: a photo the bot let pass that an admin called spam (not a flag of the bot's), and a
        # known spam picture the bot caught, which an admin confirmed.
        passed, caught = await add_flag(session, -1, 20), await add_flag(session, -1, 21)
        await session.execute(update(Flag).where(Flag.id == passed).values(action=repository.ADMIN_ACTION))
        known = {"reason": repository.KNOWN_SPAM_REASON}
        await session.execute(update(Flag).where(Flag.id == caught).values(**known))
        for flag_id in (passed, caught):
            await session.execute(update(Flag).where(Flag.id == flag_id).values(created_at=utc(monday, 9)))
            await repository.record_verdict(session, flag_id, -1, 1, repository.SPAM)
    async with any_sessions() as session:
        if session.bind.dialect.name == "postgresql":  # weeks stay UTC weeks whatever the connection's zone
            await session.execute(text("SET TIME ZONE 'Asia/Tokyo'"))
        weekly = await repository.chat_weekly_stats(session, -1, today=TODAY, weeks=3)
    assert weekly == [
        repository.WeekStats(date(2026, 2, 23), flags=1, not_spam=0),
        repository.WeekStats(date(2026, 3, 2), flags=1, not_spam=1),
        repository.WeekStats(monday, flags=3, not_spam=1, spam=2, blocklist_hits=1),
    ]
    assert [week.false_flag_share for week in weekly] == [0.0, 1.0, pytest.approx(1 / 3)]


def test_the_stored_action_and_reason_the_weekly_stats_count_are_moderations():
    assert Action.ADMIN.value == repository.ADMIN_ACTION
    assert Reason.KNOWN_SPAM_PICTURE.value == repository.KNOWN_SPAM_REASON


def test_a_week_without_flags_has_no_false_flag_share():
    assert repository.WeekStats(date(2026, 3, 9), flags=0, not_spam=0).false_flag_share is None
    assert repository.week_start(TODAY) == date(2026, 3, 9) == repository.week_start(date(2026, 3, 9))


async def test_version_feedback_counts_one_versions_answers_since_a_moment(any_sessions):
    start = utc(TODAY, 12)
    async with any_sessions.begin() as session:
        await repository.ensure_chat(session, 10, "private", DEFAULTS)
        await repository.ensure_chat(session, -1, "group", DEFAULTS)
        ids = [await suggest(session, 10, 10, tag) for tag in ("cafe", "cafe", "bar", None, "cafe")]
        before = await suggest(session, 10, 10, "cafe")  # rated, but before the canary started
        flags = [await add_flag(session, -1, message_id) for message_id in (1, 2, 3)]
        other = await repository.add_flag(
            session, chat_id=-1, message_id=4, user_id=5, caption_tags=["beach"], predicted_tag="cafe",
            confidence=0.5, compatible_probability=0.001, action="flag", model_version="other-version")
        for table, row in [(Suggestion, i) for i in ids] + [(Flag, f) for f in flags]:
            await session.execute(update(table).where(table.id == row).values(created_at=utc(TODAY, 13)))
        earlier = utc(TODAY, 11)
        await session.execute(update(Suggestion).where(Suggestion.id == before).values(created_at=earlier))
    async with any_sessions.begin() as session:
        for suggestion_id, rating in zip(ids, ("up", "up", "down", "down"), strict=False):
            await repository.set_feedback(session, suggestion_id, 10, rating)
        await repository.set_feedback(session, before, 10, "up")
        await repository.set_correction(session, ids[2], 10, "other")
        await repository.record_verdict(session, flags[0], -1, admin_id=1, verdict=NOT_SPAM)
        await repository.record_verdict(session, other, -1, admin_id=1, verdict=NOT_SPAM)
    async with any_sessions() as session:
        since = await repository.version_feedback(session, "abc123", since=start)
        ever = await repository.version_feedback(session, "abc123")
        nothing = await repository.version_feedback(session, "never-served")
    assert since == repository.VersionFeedback(
        "abc123", photos=5, suggested=4, mean_confidence=pytest.approx(0.8), up=2, down=2, corrected=1,
        flags=3, not_spam=1)
    assert (ever.photos, ever.up) == (6, 3)
    assert nothing == repository.VersionFeedback("never-served", 0, 0, None, 0, 0, 0, 0, 0)



async def test_a_photo_counts_only_in_a_chat_that_has_its_row(any_sessions):
    async with any_sessions.begin() as session:
        assert not await repository.count_photo(session, -1, today=TODAY)  # no row yet: the caller creates it
        await repository.ensure_chat(session, -1, "group", DEFAULTS)
        assert await repository.count_photo(session, -1, today=TODAY)
    async with any_sessions() as session:
        daily = await repository.chat_daily_stats(session, -1, today=TODAY, days=1)
        chat = await session.get(Chat, -1)
    assert [d.photos for d in daily] == [1]
    assert chat.photos_seen == 1


async def test_daily_stats_count_every_photo_a_group_sent_flagged_or_not(any_sessions):
    async with any_sessions.begin() as session:
        await repository.ensure_chat(session, -1, "group", DEFAULTS)
        await repository.ensure_chat(session, -2, "group", DEFAULTS)
        for _ in range(3):
            await repository.count_photo(session, -1, today=TODAY)
        await repository.count_photo(session, -1, today=TODAY - timedelta(days=1))
        await repository.count_photo(session, -2, today=TODAY)  # another chat
        await flag_at(session, -1, utc(TODAY, 10))  # one of today's three photos was flagged
        await flag_at(session, -1, utc(TODAY - timedelta(days=2), 10))  # a day without a count: its record
    async with any_sessions() as session:
        daily = await repository.chat_daily_stats(session, -1, today=TODAY, days=3)
        chat = await session.get(Chat, -1)
    assert [(d.photos, d.flags) for d in daily] == [(1, 1), (1, 0), (3, 1)]
    assert chat.photos_seen == 4


async def test_a_members_clean_posts_count_in_a_row_and_an_approval_outlasts_a_flag(any_sessions):
    async with any_sessions.begin() as session:
        for chat_id in (-1, -2):
            await repository.ensure_chat(session, chat_id, "group", DEFAULTS)
    assert await standing(any_sessions, -1, 7) == repository.MemberStanding(clean_posts=0, approved=False)
    for clean in (True, True, False, True, True):
        async with any_sessions.begin() as session:
            await repository.record_post(session, -1, 7, clean=clean)
    async with any_sessions.begin() as session:
        await repository.record_post(session, -2, 7, clean=True)  # another group counts apart
    assert await standing(any_sessions, -1, 7) == repository.MemberStanding(clean_posts=2, approved=False)
    assert await standing(any_sessions, -2, 7) == repository.MemberStanding(clean_posts=1, approved=False)

    async with any_sessions.begin() as session:
        await repository.set_approval(session, -1, 8, admin_id=1)  # a member with no post yet
        await repository.set_approval(session, -1, 7, admin_id=1)
    async with any_sessions.begin() as session:
        await repository.record_post(session, -1, 8, clean=False)
    assert await standing(any_sessions, -1, 8) == repository.MemberStanding(clean_posts=0, approved=True)
    assert await standing(any_sessions, -1, 7) == repository.MemberStanding(clean_posts=2, approved=True)
    async with any_sessions.begin() as session:
        await repository.set_approval(session, -1, 7, admin_id=None)
    assert await standing(any_sessions, -1, 7) == repository.MemberStanding(clean_posts=0, approved=False)


async def standing(sessions, chat_id: int, user_id: int) -> repository.MemberStanding:
    async with sessions() as session:
        return await repository.member_standing(session, chat_id, user_id)


async def _flag(session, message_id: int = 5):
    return await repository.add_flag(
        session, chat_id=-1, message_id=message_id, user_id=7, caption_tags=["beach"],
        predicted_tag="cafe", confidence=0.9, compatible_probability=0.001, action="flag", model_version="v2",
        reason="mismatch", picture_hash="00ff00ff00ff00ff",
    )


async def test_a_spam_verdict_is_recorded_with_its_admin_and_the_last_verdict_stands(sessions):
    async with sessions.begin() as session:
        await repository.ensure_chat(session, -1, "supergroup", DEFAULTS)
        flag_id = await _flag(session)
        # Not a flag of that chat:
        assert await repository.record_verdict(session, flag_id, -2, 3, repository.SPAM) is None
        flag = await repository.record_verdict(session, flag_id, -1, 3, repository.SPAM)
        assert flag is not None and (flag.admin_verdict, flag.verdict_by) == ("spam", 3)
        entry = await repository.block_picture(session, -1, flag.picture_hash, 3, flag_id)
        with pytest.raises(ValueError, match="verdict"):
            await repository.record_verdict(session, flag_id, -1, 3, "maybe")
    async with sessions.begin() as session:
        assert [e.id for e in await repository.blocklist(session, -1)] == [entry.id]
        flag = await repository.record_verdict(session, flag_id, -1, 4, NOT_SPAM)  # changed their mind
        assert (flag.admin_verdict, flag.verdict_by) == ("not_spam", 4)
    async with sessions() as session:
        assert await repository.blocklist(session, -1) == []  # its picture is off the list again
        assert (await repository.flag_of_message(session, -1, 5)).id == flag_id
        assert await repository.flag_of_message(session, -1, 6) is None


async def test_an_albums_flag_names_every_photo_and_spam_blocks_each_picture(any_sessions):
    photos = [
        repository.AlbumPhoto(11, "00ff00ff00ff00ff"),
        repository.AlbumPhoto(12, None),  # could not be hashed
        repository.AlbumPhoto(13, "ffff0000ffff0000"),
    ]
    async with any_sessions.begin() as session:
        await repository.ensure_chat(session, -1, "supergroup", DEFAULTS)
        flag_id = await repository.add_flag(
            session, chat_id=-1, message_id=11, user_id=7, caption_tags=["beach"], predicted_tag="cafe",
            confidence=0.9, compatible_probability=0.001, action="flag", model_version="v2",
            reason="mismatch", picture_hash="00ff00ff00ff00ff", media_group_id="777", album_photos=photos,
        )
        single = await _flag(session, message_id=20)
    async with any_sessions.begin() as session:
        # /spam in reply to any photo of the album finds the album's flag; a single photo's is its own.
        assert (await repository.flag_of_message(session, -1, 13, "777")).id == flag_id
        assert (await repository.flag_of_message(session, -1, 20)).id == single
        assert await repository.flag_of_message(session, -1, 13) is None
        marked = await repository.mark_spam(session, flag_id, -1, 3)
        assert marked is not None
        flag, entry = marked
        assert flag.message_ids == [11, 12, 13] and entry is not None
        assert (await session.get(Flag, single)).message_ids == [20]
    async with any_sessions.begin() as session:
        listed = sorted((e.hash, e.source_flag_id) for e in await repository.blocklist(session, -1))
        assert listed == [("00ff00ff00ff00ff", flag_id), ("ffff0000ffff0000", flag_id)]
        await repository.record_verdict(session, flag_id, -1, 4, NOT_SPAM)  # every picture comes off again
    async with any_sessions() as session:
        assert await repository.blocklist(session, -1) == []


async def test_not_spam_on_a_known_spam_catch_takes_the_groups_entry_off_its_list(any_sessions):
    async with any_sessions.begin() as session:
        await repository.ensure_chat(session, -1, "supergroup", DEFAULTS)
        own = await repository.block_picture(session, -1, "00000000000000ff", 3, None)
        everywhere = await repository.block_picture(session, None, "ff00000000000000", 9, None)
        catches = [
            await repository.add_flag(
                session, chat_id=-1, message_id=message_id, user_id=7, caption_tags=[], predicted_tag="",
                confidence=0.0, compatible_probability=None, action="delete", model_version=None,
                reason="known_spam_picture", picture_hash="00000000000000fe", matched_entry_id=entry.id,
            )
            for message_id, entry in ((30, own), (31, everywhere))
        ]
    async with any_sessions.begin() as session:
        for flag_id in catches:
            await repository.record_verdict(session, flag_id, -1, 4, NOT_SPAM)
    async with any_sessions() as session:
        # The group's own entry is gone; the global one stays for an operator to judge.
        assert [e.id for e in await repository.blocklist(session, -1)] == [everywhere.id]


async def test_the_all_time_flags_are_the_bots_not_an_admins_spam_rows(any_sessions):
    async with any_sessions.begin() as session:
        await repository.ensure_chat(session, -1, "supergroup", DEFAULTS)
        await _flag(session, message_id=40)
        await repository.add_flag(
            session, chat_id=-1, message_id=41, user_id=7, caption_tags=[], predicted_tag="", confidence=0.0,
            compatible_probability=None, action="admin", model_version=None, reason="admin_spam",
        )
    async with any_sessions() as session:
        assert (await repository.chat_stats(session, -1)).flags == 1


async def test_the_blocklist_holds_a_hash_once_per_list_and_counts_hits(sessions):
    async with sessions.begin() as session:
        for chat_id in (-1, -2):
            await repository.ensure_chat(session, chat_id, "supergroup", DEFAULTS)
        mine = await repository.block_picture(session, -1, "00000000000000ff", 3, None)
        again = await repository.block_picture(session, -1, "00000000000000ff", 4, None)
        everywhere = await repository.block_picture(session, None, "00000000000000ff", 9, None)
        theirs = await repository.block_picture(session, -2, "ff00000000000000", 5, None)
        assert again.id == mine.id and len({mine.id, everywhere.id, theirs.id}) == 3
        await repository.count_hit(session, mine.id)
        await repository.count_hit(session, mine.id)
    async with sessions.begin() as session:
        listed = {e.id: (e.chat_id, e.hits) for e in await repository.blocklist(session, -1)}
        assert listed == {mine.id: (-1, 2), everywhere.id: (None, 0)}  # its own and the global list
        assert not await repository.unblock_picture(session, theirs.id, -1)  # another chat's entry
        assert not await repository.unblock_picture(session, everywhere.id, -1)  # global: operators only
        assert await repository.unblock_picture(session, everywhere.id, None)
        assert await repository.unblock_picture(session, mine.id, -1)
    async with sessions() as session:
        assert await repository.blocklist(session, -1) == []
        assert [e.id for e in await repository.blocklist(session, -2)] == [theirs.id]
