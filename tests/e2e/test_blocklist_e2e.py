"""Known spam pictures end to end: the real bot, polling the fake Bot API, with the module's real worker.

An admin marks a flagged photo as spam (the 🚫 Spam button) and, later, a photo the bot let pass (`/spam` in
reply to it); each picture is then caught again when a member re-posts it re-encoded, resized and cropped,
under a new caption, and deleted in delete mode with the "known spam picture" notice. Members cannot give
the verdict.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from bot.i18n import text
from moderation.blocklist import MAX_DISTANCE, distance, picture_hash
from storage.models import Flag, SpamPicture
from tests.e2e.conftest import buttons, eventually
from tests.fake_telegram import FakeTelegram
from tests.fake_telegram.objects import Chat

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

CLASSIFY_TIMEOUT_S = 60.0  # a photo through Redis and the CPU worker on a busy 2-core machine
SAMPLES = Path(__file__).resolve().parents[2] / "ml" / "samples"


def reposted(data: bytes) -> bytes:
    """The picture as a spammer posts it again: cropped by 3 %, resized to 80 %, re-encoded as JPEG 70."""
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
        copy = image.convert("RGB").crop((round(width * 0.03), round(height * 0.03), width, height))
    copy = copy.resize((round(copy.width * 0.8), round(copy.height * 0.8)))
    out = io.BytesIO()
    copy.save(out, "JPEG", quality=70)
    return out.getvalue()


def unlike(photo: bytes) -> bytes:
    """A bundled sample that is another picture than `photo` (beyond the blocklist's distance)."""
    for path in sorted(SAMPLES.glob("*.jpg")):
        data = path.read_bytes()
        if distance(picture_hash(data), picture_hash(photo)) > MAX_DISTANCE:
            return data
    raise AssertionError("every bundled sample looks like the test's photo")


async def reply_to(telegram: FakeTelegram, group: Chat, message: dict) -> dict:
    return await telegram.wait_for_message(
        group.id,
        lambda m: m.get("reply_to_message", {}).get("message_id") == message["message_id"],
        timeout=CLASSIFY_TIMEOUT_S,
    )


async def answer_to(telegram: FakeTelegram, group: Chat, command: dict) -> dict:
    """The bot's reply to a command (not some other notice posted meanwhile)."""
    return await telegram.wait_for_message(
        group.id, lambda m: m.get("reply_to_message", {}).get("message_id") == command["message_id"]
    )


async def press(telegram: FakeTelegram, message: dict, data: str, user) -> dict:
    query_id = await telegram.press_button(message, data, user)
    return await telegram.wait_for_call("answerCallbackQuery", lambda p: p["callback_query_id"] == query_id)


async def test_a_picture_an_admin_marked_spam_is_caught_again_reencoded_under_a_new_caption(
    telegram, bot, sample
):
    group, admin = telegram.new_group("Deals"), telegram.new_user("Olga")
    carol, dave, erin = (telegram.new_user(name) for name in ("Carol", "Dave", "Erin"))
    await telegram.set_admins(group, [admin])
    sent = await telegram.send_command(group, admin, "/moderation on")
    panel = await telegram.wait_for_message(group.id, after_message_id=sent["message_id"])

    # Flag mode: the contradicting caption is flagged; under the notice, "Not spam" and "🚫 Spam".
    flagged = await telegram.send_group_photo(group, carol, sample.photo, sample.contradicting)
    notice = await reply_to(telegram, group, flagged)
    not_spam, spam = buttons(notice)
    assert (not_spam["text"], spam["text"]) == (text("not_spam_button", "en"), text("spam_button", "en"))
    refused = await press(telegram, notice, spam["callback_data"], dave)
    assert refused.get("show_alert") and refused["text"] == text("admin_only", "en")
    answer = await press(telegram, notice, spam["callback_data"], admin)
    assert answer["text"] == text("spam_recorded", "en")
    flag_id = int(spam["callback_data"].split(":")[1])
    async with bot.services.sessions() as session:
        flag = await session.get(Flag, flag_id)
        entries = (await session.scalars(select(SpamPicture).where(SpamPicture.chat_id == group.id))).all()
    assert (flag.admin_verdict, flag.verdict_by, flag.action) == ("spam", admin.id, "flag")
    listed = [(e.hash, e.added_by, e.source_flag_id) for e in entries]
    assert listed == [(flag.picture_hash, admin.id, flag_id)]
    assert (group.id, flagged["message_id"]) not in telegram.deleted_messages  # flag mode deletes nothing

    # Delete mode: the picture re-posted by another member, re-encoded, under an honest-looking caption.
    answer = await press(telegram, panel, "set:mode:delete", admin)
    again = await telegram.send_group_photo(group, erin, reposted(sample.photo), sample.compatible)
    await eventually(
        lambda: (group.id, again["message_id"]) in telegram.deleted_messages,
        "the re-posted spam picture to be deleted",
        CLASSIFY_TIMEOUT_S,
    )
    known = await telegram.wait_for_message(
        group.id, lambda m: m.get("text", "").startswith("I removed a photo by Erin")
    )
    assert known["text"] == text("known_spam_delete_notice", "en", user="Erin")
    async with bot.services.sessions() as session:
        caught = await session.scalar(select(Flag).where(Flag.message_id == again["message_id"]))
        hits = await session.scalar(select(SpamPicture.hits).where(SpamPicture.id == entries[0].id))
    assert (caught.action, caught.reason, caught.model_version) == ("delete", "known_spam_picture", None)
    assert hits == 1

    # A photo the bot let pass (no hashtags): a member's /spam is refused, an admin's deletes and blocks it.
    other = unlike(sample.photo)
    passed = await telegram.send_group_photo(group, carol, other, "look at this")
    sent = await telegram.send_text(group, dave, "/spam", reply_to=passed)
    reply = await answer_to(telegram, group, sent)
    assert reply["text"] == text("admin_only", "en")
    sent = await telegram.send_text(group, admin, "/spam", reply_to=passed)
    reply = await answer_to(telegram, group, sent)
    assert reply["text"] == text("spam_recorded", "en")
    assert (group.id, passed["message_id"]) in telegram.deleted_messages
    async with bot.services.sessions() as session:
        admin_flag = await session.scalar(select(Flag).where(Flag.message_id == passed["message_id"]))
    assert (admin_flag.action, admin_flag.reason, admin_flag.admin_verdict) == ("admin", "admin_spam", "spam")
    assert admin_flag.verdict_by == admin.id and admin_flag.picture_hash

    # ... and its re-post, without a caption at all, is caught too.
    repost = await telegram.send_group_photo(group, dave, reposted(other))
    await eventually(
        lambda: (group.id, repost["message_id"]) in telegram.deleted_messages,
        "the re-posted /spam picture to be deleted",
        CLASSIFY_TIMEOUT_S,
    )

    # /spam not in reply to a photo says how it is used.
    sent = await telegram.send_text(group, admin, "/spam")
    reply = await answer_to(telegram, group, sent)
    assert reply["text"] == text("spam_usage", "en")
