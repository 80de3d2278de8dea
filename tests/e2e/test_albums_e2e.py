"""Albums judged as one post, end to end: the real bot polling the fake Bot API, the module's real worker.

An album with a spam caption (on its first photo only, as Telegram sends it) is deleted whole in delete mode,
with one notice, and a photo of it arriving after the verdict follows it; a trusted member's albums are left
alone, unless a photo of one is a known spam picture, which deletes the album whole. (Two bot replicas sharing
one album: tests/e2e/test_bot_processes.py.)
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.albums import album_key
from bot.i18n import text
from storage import repository
from storage.models import Flag
from tests.e2e.conftest import buttons, eventually, replies_to
from tests.e2e.test_blocklist_e2e import press, reposted, unlike
from tests.fake_telegram import FakeTelegram
from tests.fake_telegram.objects import Chat, User

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

CLASSIFY_TIMEOUT_S = 90.0  # an album's photos through Redis and the CPU worker on a busy 2-core machine
TRUST_AFTER = 1  # clean posts that make a member trusted (default 10)


@pytest.fixture(scope="module")
def bot_settings() -> dict[str, object]:
    return {"moderation_trust_after": TRUST_AFTER, "moderation_album_wait_seconds": 1.0}


async def delete_mode_group(telegram: FakeTelegram, title: str) -> tuple[Chat, User, dict]:
    """A group in delete mode (the bot may delete), its admin and the settings panel."""
    group, admin = telegram.new_group(title), telegram.new_user("Olga")
    await telegram.set_admins(group, [admin])
    sent = await telegram.send_command(group, admin, "/moderation on")
    panel = await telegram.wait_for_message(group.id, after_message_id=sent["message_id"])
    await press(telegram, panel, "set:mode:delete", admin)
    return group, admin, panel


def bot_messages_after(telegram: FakeTelegram, group: Chat, message_id: int) -> list[dict]:
    return [
        m
        for m in telegram.messages_in(group.id)
        if m["message_id"] > message_id and m.get("from", {}).get("id") == telegram.bot.id
    ]


async def deleted(telegram: FakeTelegram, group: Chat, messages: list[dict], what: str) -> dict:
    """Wait until every one of `messages` is deleted; the bot's notice (posted after the delete)."""
    ids = {(group.id, m["message_id"]) for m in messages}
    await eventually(lambda: ids <= set(telegram.deleted_messages), what, CLASSIFY_TIMEOUT_S)
    return await telegram.wait_for_message(
        group.id,
        lambda m: m.get("from", {}).get("id") == telegram.bot.id,
        after_message_id=messages[-1]["message_id"],
    )


async def album_verdict(bot, group: Chat, album: list[dict]) -> str | None:
    """The verdict the replicas share for the album (bot.albums), once one was decided."""
    verdict = await bot.services.redis.hget(album_key(group.id, album[0]["media_group_id"]), "verdict")
    return verdict.decode() if verdict else None


async def test_an_album_with_a_spam_caption_is_deleted_whole_with_one_notice(telegram, bot, sample):
    group, _, _ = await delete_mode_group(telegram, "Holidays")
    spammer = telegram.new_user("Sam")
    photos = [sample.photo, reposted(sample.photo), reposted(reposted(sample.photo))]
    album = await telegram.send_album(group, spammer, photos, sample.contradicting)
    notice = await deleted(telegram, group, album, "every photo of the spam album to be deleted")
    assert notice["text"].startswith("I removed an album of 3 photos by Sam")

    async with bot.services.sessions() as session:
        flags = (await session.scalars(select(Flag).where(Flag.chat_id == group.id))).all()
    assert len(flags) == 1  # one post, one flag: on the captioned photo, naming all three
    flag = flags[0]
    assert (flag.message_id, flag.action, flag.reason) == (album[0]["message_id"], "delete", "mismatch")
    assert flag.media_group_id == album[0]["media_group_id"]
    assert flag.message_ids == [m["message_id"] for m in album]
    assert len(flag.picture_hashes) >= 1 and all(p["picture_hash"] for p in flag.album_photos)

    # A photo of the album that reaches the bot after the verdict follows it, without a second notice.
    late = await telegram.send_group_photo(
        group, spammer, sample.photo, media_group_id=album[0]["media_group_id"]
    )
    late_ids = {(group.id, late["message_id"])}
    await eventually(lambda: late_ids <= set(telegram.deleted_messages), "the late photo to be deleted")
    assert bot_messages_after(telegram, group, album[-1]["message_id"]) == [notice]  # no second notice


async def test_a_trusted_members_albums_are_left_alone_unless_a_photo_is_known_spam(telegram, bot, sample):
    group, admin, _ = await delete_mode_group(telegram, "Regulars")
    regular, newcomer = telegram.new_user("Rita"), telegram.new_user("Nick")
    other = unlike(sample.photo)

    # Rita earns trust with one clean post; her honest album and even her spam-captioned one are not judged.
    await telegram.send_group_photo(group, regular, sample.photo, sample.compatible)

    async def trusted() -> bool:
        async with bot.services.sessions() as session:
            return (
                await repository.member_standing(session, group.id, regular.id)
            ).clean_posts == TRUST_AFTER

    await eventually(trusted, "Rita to be trusted", CLASSIFY_TIMEOUT_S)
    honest = await telegram.send_album(group, regular, [sample.photo, other], sample.compatible)
    unjudged = await telegram.send_album(group, regular, [sample.photo, other], sample.contradicting)
    for album in (honest, unjudged):
        await eventually(
            lambda a=album: _is(album_verdict(bot, group, a), "none"),
            "the album let pass",
            CLASSIFY_TIMEOUT_S,
        )
        assert all(replies_to(telegram, group.id, m["message_id"]) == [] for m in album)
    assert not {(group.id, m["message_id"]) for m in honest + unjudged} & set(telegram.deleted_messages)

    # A newcomer's spam photo is deleted, and the admin calls it spam: its picture is blocked.
    spam = await telegram.send_group_photo(group, newcomer, sample.photo, sample.contradicting)
    notice = await deleted(telegram, group, [spam], "the newcomer's spam photo to be deleted")
    _, spam_button = buttons(notice)
    answer = await press(telegram, notice, spam_button["callback_data"], admin)
    assert answer["text"] == text("spam_recorded", "en")

    # Rita's account posts the picture again inside an honest album: the whole album goes.
    stolen = await telegram.send_album(group, regular, [other, reposted(sample.photo)], sample.compatible)
    notice = await deleted(telegram, group, stolen, "the album with a known spam picture to be deleted whole")
    assert notice["text"] == text("known_spam_album_delete_notice", "en", user="Rita", count=2)
    assert len(bot_messages_after(telegram, group, stolen[-1]["message_id"])) == 1


async def _is(value, expected: object) -> bool:
    return await value == expected
