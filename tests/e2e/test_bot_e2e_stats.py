"""/stats end to end: the real bot, polling the fake Bot API, answers with a chart and, as its caption, the
numbers and the moderation weeks.

No worker: /stats only reads the database, so the chat's records are written there directly, as the photo
handlers would write them.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from PIL import Image
from sqlalchemy import update

from bot.charts import COLOURS, SIZE
from bot.i18n import Language, text
from bot.replies import weekly_text
from moderation.verdict import ModerationSettings
from storage import repository
from storage.models import Flag
from tests.e2e.running_bot import RunningBot, polling_bot
from tests.fake_telegram import FakeTelegram
from tests.fake_telegram.state import Upload
from tests.test_bot_charts import pixels_of

pytestmark = pytest.mark.slow


@pytest_asyncio.fixture
async def stats_bot(redis_url: str, tmp_path) -> AsyncIterator[tuple[FakeTelegram, RunningBot]]:
    async with FakeTelegram() as telegram, polling_bot(telegram, tmp_path, redis_url=redis_url) as running:
        yield telegram, running


async def record_flags(running: RunningBot, chat_id: int, ages: list[timedelta], photos: int) -> None:
    """`photos` counted in the group and one flag per age (its first marked "not spam" by an admin)."""
    async with running.services.sessions.begin() as session:
        defaults = repository.StoredModeration(**asdict(ModerationSettings()))
        await repository.ensure_chat(session, chat_id, "supergroup", defaults)
        for _ in range(photos):
            await repository.count_photo(session, chat_id)
        for message_id, age in enumerate(ages, start=1):
            flag_id = await repository.add_flag(
                session,
                chat_id=chat_id,
                message_id=message_id,
                user_id=7,
                caption_tags=["beach"],
                predicted_tag="cafe",
                confidence=0.9,
                compatible_probability=0.01,
                action="flag",
                model_version="v1",
            )
            when = datetime.now(UTC) - age
            await session.execute(update(Flag).where(Flag.id == flag_id).values(created_at=when))
            if message_id == 1:
                await repository.record_verdict(session, flag_id, chat_id, 1, repository.NOT_SPAM)


def caption_of(numbers: str, ages: list[timedelta], language: Language) -> str:
    """The numbers, then the last four UTC weeks: one flag per age, the first of them "not spam"."""
    now = datetime.now(UTC)
    this_week = repository.week_start(now.date())
    weeks = [this_week - timedelta(weeks=n) for n in (3, 2, 1, 0)]
    flags = Counter(repository.week_start((now - age).date()) for age in ages)
    not_spam = repository.week_start((now - ages[0]).date()) if ages else None
    stats = [repository.WeekStats(week, flags[week], int(week == not_spam)) for week in weeks]
    return f"{numbers}\n\n{weekly_text(stats, language)}"


def uploaded_chart(telegram: FakeTelegram, chat_id: int) -> Image.Image:
    (upload,) = [p["photo"] for m, p in telegram.calls if m == "sendPhoto" and int(p["chat_id"]) == chat_id]
    assert isinstance(upload, Upload)
    image = Image.open(io.BytesIO(upload.data))
    assert (image.format, image.size) == ("PNG", SIZE)
    return image


async def test_stats_is_a_chart_with_the_numbers_as_caption_for_admins_only(stats_bot):
    telegram, running = stats_bot
    group = telegram.new_group("Hikers")
    olga, carol = telegram.new_user("Olga"), telegram.new_user("Carol")
    await telegram.set_admins(group, [olga])
    ages = [timedelta(hours=1), timedelta(days=3), timedelta(days=3)]
    await record_flags(running, group.id, ages, photos=5)

    sent = await telegram.send_command(group, carol, "/stats")
    reply = await telegram.wait_for_message(group.id, after_message_id=sent["message_id"])
    assert reply["text"] == text("admin_only", "en")

    sent = await telegram.send_command(group, olga, "/stats")
    reply = await telegram.wait_for_message(group.id, after_message_id=sent["message_id"])
    numbers = text("stats", "en", photos=5, suggestions=0, flags=3, false_positives=1)
    assert reply["caption"] == caption_of(numbers, ages, "en")
    assert reply["photo"] and reply["reply_to_message"]["message_id"] == sent["message_id"]
    chart = uploaded_chart(telegram, group.id)
    assert pixels_of(chart, COLOURS[2]) > 0  # the flags' bars
    assert pixels_of(chart, COLOURS[1]) == 0  # no suggestion in a group


async def test_a_chat_without_records_gets_the_empty_chart_in_russian(stats_bot):
    telegram, _ = stats_bot
    group = telegram.new_group("Туристы")
    ivan = telegram.new_user("Ivan", language_code="ru")
    await telegram.set_admins(group, [ivan])
    sent = await telegram.send_command(group, ivan, "/stats")
    reply = await telegram.wait_for_message(group.id, after_message_id=sent["message_id"])
    numbers = text("stats", "ru", photos=0, suggestions=0, flags=0, false_positives=0)
    assert reply["caption"] == caption_of(numbers, [], "ru")
    chart = uploaded_chart(telegram, group.id)
    assert all(pixels_of(chart, colour) == 0 for colour in COLOURS)


async def test_the_numbers_go_out_as_text_when_the_chart_cannot(stats_bot, monkeypatch):
    telegram, running = stats_bot
    group = telegram.new_group("Climbers")
    olga = telegram.new_user("Olga")
    await telegram.set_admins(group, [olga])
    ages = [timedelta(hours=2)]
    await record_flags(running, group.id, ages, photos=2)
    counts = text("stats", "en", photos=2, suggestions=0, flags=1, false_positives=1)
    numbers = caption_of(counts, ages, "en")

    telegram.fail_next("sendPhoto", 400, "Bad Request: IMAGE_PROCESS_FAILED")
    sent = await telegram.send_command(group, olga, "/stats")
    reply = await telegram.wait_for_message(group.id, after_message_id=sent["message_id"])
    assert reply["text"] == numbers

    def broken(*_: object) -> bytes:
        raise OSError("cannot open resource")

    monkeypatch.setattr("bot.handlers.chat_admin.stats_chart", broken)
    sent = await telegram.send_command(group, olga, "/stats")
    reply = await telegram.wait_for_message(group.id, after_message_id=sent["message_id"])
    assert reply["text"] == numbers


async def test_stats_in_a_private_chat_says_it_is_for_groups(stats_bot):
    telegram, _ = stats_bot
    alice = telegram.new_user("Alice")
    sent = await telegram.send_command(alice.private_chat, alice, "/stats")
    reply = await telegram.wait_for_message(alice.id, after_message_id=sent["message_id"])
    assert reply["text"] == text("group_only", "en")
