"""The spammer's side, end to end: the real bot, polling the fake Bot API, with the module's real worker.

Each test plays one way round moderation as a member would try it: posting as their own channel, editing
an honest caption into spam, an album, an image sent as a file, a forwarded channel ad, a flood, and
switching moderation off by sending the command as a channel, earning trust and then spamming. Each must be
flagged, refused or cut off; only the group itself, its linked channel and its administrators speak for the
group.
"""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from bot.i18n import text
from storage import repository
from storage.models import Chat as ChatRow
from tests.e2e.conftest import eventually, replies_to
from tests.fake_telegram import FakeTelegram
from tests.fake_telegram.objects import Chat, User

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

CLASSIFY_TIMEOUT_S = 60.0  # a photo through Redis and the CPU worker on a busy 2-core machine
PER_SENDER, PER_CHAT = 4, 6  # this module's flood limits (defaults 10 and 30)
TRUST_AFTER = 2  # clean posts in a row that make a member trusted (default 10)


@pytest.fixture(scope="module")
def bot_settings() -> dict[str, object]:
    return {
        "group_rate_limit_per_user": PER_SENDER,
        "group_rate_limit_per_chat": PER_CHAT,
        "moderation_trust_after": TRUST_AFTER,
    }


async def moderated_group(telegram: FakeTelegram, title: str):
    """A group whose admin switched moderation on (flag mode), with a linked channel."""
    group, admin, news = telegram.new_group(title), telegram.new_user("Olga"), telegram.new_channel("News")
    telegram.link_channel(group, news)
    await telegram.set_admins(group, [admin])
    sent = await telegram.send_command(group, admin, "/moderation on")
    panel = await telegram.wait_for_message(group.id, after_message_id=sent["message_id"])
    assert "is on" in panel["text"]
    return group, admin, news


async def flagged(telegram: FakeTelegram, group: Chat, message: dict) -> dict:
    """The bot's flag notice replying to `message`."""
    return await telegram.wait_for_message(
        group.id,
        lambda m: m.get("reply_to_message", {}).get("message_id") == message["message_id"],
        timeout=CLASSIFY_TIMEOUT_S,
    )


def counted(outcome: str) -> float:
    labels = {"kind": "group", "outcome": outcome, "model_version": "none"}
    return REGISTRY.get_sample_value("scenetag_photo_outcomes_total", labels) or 0.0


async def moderation_on(bot, group: Chat) -> bool:
    async with bot.services.sessions() as session:
        return (await session.get(ChatRow, group.id)).moderation_enabled


async def test_a_member_posting_as_their_own_channel_is_flagged(telegram, bot, sample):
    group, _, news = await moderated_group(telegram, "Own channel")
    own = telegram.new_channel("Carol's deals")
    linked_post = await telegram.send_group_photo(group, news, sample.photo, sample.contradicting)
    spam = await telegram.send_group_photo(group, own, sample.photo, sample.contradicting)
    assert spam["sender_chat"]["id"] == own.id and "is_automatic_forward" not in spam
    notice = await flagged(telegram, group, spam)
    assert f"#{sample.tag}" in notice["text"]
    assert replies_to(telegram, group.id, linked_post["message_id"]) == []  # the group's own channel


async def test_settings_sent_as_a_channel_are_refused_unless_it_is_the_linked_one(telegram, bot):
    group, _, news = await moderated_group(telegram, "Commands as a channel")
    own = telegram.new_channel("Carol's deals")
    for command in ("/moderation off", "/settings", "/stats"):
        sent = await telegram.send_command(group, own, command)
        reply = await telegram.wait_for_message(group.id, after_message_id=sent["message_id"])
        assert reply["text"] == text("channel_not_admin", "en"), command
    assert await moderation_on(bot, group)

    sent = await telegram.send_command(group, news, "/moderation off")  # the linked channel speaks for it
    reply = await telegram.wait_for_message(group.id, after_message_id=sent["message_id"])
    assert "is off" in reply["text"]
    assert not await moderation_on(bot, group)


async def test_an_edited_caption_an_album_a_file_and_a_forward_are_caught_like_a_plain_post(
    telegram, bot, sample
):
    group, _, _ = await moderated_group(telegram, "Evasions")
    editor, albums, filer, forwarder = (telegram.new_user(name) for name in ("Ed", "Al", "Fi", "Fo"))
    ads = telegram.new_channel("Cheap flights")

    honest = await telegram.send_group_photo(group, editor, sample.photo, sample.compatible)
    await telegram.edit_caption(honest, sample.contradicting)
    album = await telegram.send_album(group, albums, [sample.photo, sample.photo], sample.contradicting)
    document = await telegram.send_document_image(filer, sample.photo, sample.contradicting, chat=group)
    forward = await telegram.send_group_photo(
        group, forwarder, sample.photo, sample.contradicting, forwarded_from=ads
    )
    for spam in (honest, album[0], document, forward):
        notice = await flagged(telegram, group, spam)
        assert f"#{sample.tag}" in notice["text"]
    assert len(replies_to(telegram, group.id, honest["message_id"])) == 1  # the honest version was not
    assert replies_to(telegram, group.id, album[1]["message_id"]) == []  # no caption: nothing to judge


async def test_a_flood_is_cut_off_with_one_notice_and_every_photo_counted(telegram, bot, sample):
    """One member sends more than their limit, then fresh accounts raid the chat past its limit: the chat's
    allowance is classified, the rest counted and left unclassified, and the group gets one notice."""
    group, _, _ = await moderated_group(telegram, "Raided")
    spammer, raiders = telegram.new_user("Flooder"), [telegram.new_user(f"Raider{i}") for i in range(4)]
    refused_before = counted("rate_limited")
    photos = [
        await telegram.send_group_photo(group, spammer, sample.photo, sample.contradicting)
        for _ in range(PER_SENDER + 2)
    ]
    photos += [
        await telegram.send_group_photo(group, raider, sample.photo, sample.contradicting)
        for raider in raiders
    ]
    refused = len(photos) - PER_CHAT  # whatever order the bot handles them in: the sender's 4, the chat's 6

    async def stats() -> repository.ChatStats:
        async with bot.services.sessions() as session:
            return await repository.chat_stats(session, group.id)

    async def all_flagged() -> bool:
        return (await stats()).flags == PER_CHAT

    await eventually(all_flagged, "the chat's allowance to be flagged", seconds=CLASSIFY_TIMEOUT_S)
    await eventually(lambda: counted("rate_limited") - refused_before == refused, "the refusals counted")
    flood_notices = [
        m for m in telegram.messages_in(group.id) if m.get("text") == text("group_flooded", "en")
    ]
    assert len(flood_notices) == 1  # one per window, however many senders went over
    flag_notices = [
        photo
        for photo in photos
        if any("#" in m["text"] for m in replies_to(telegram, group.id, photo["message_id"]))
    ]
    assert len(flag_notices) == PER_CHAT
    unclassified = {photo["message_id"] for photo in photos} - {photo["message_id"] for photo in flag_notices}
    assert flood_notices[0]["reply_to_message"]["message_id"] in unclassified
    assert (await stats()).photos == len(photos)  # every photo recorded in the chat's count
    assert (await stats()).flags == PER_CHAT  # and no refused one classified later


async def standing(bot, group: Chat, user: User) -> repository.MemberStanding:
    async with bot.services.sessions() as session:
        return await repository.member_standing(session, group.id, user.id)


async def test_trust_is_earned_by_clean_posts_granted_by_admins_and_taken_back(telegram, bot, sample):
    group, admin, _ = await moderated_group(telegram, "Regulars")
    regular, newcomer = telegram.new_user("Rita"), telegram.new_user("Nick")

    async def post_clean(expected: int) -> None:
        await telegram.send_group_photo(group, regular, sample.photo, sample.compatible)

        async def counted_clean() -> bool:
            return (await standing(bot, group, regular)).clean_posts == expected

        await eventually(counted_clean, f"{expected} clean posts", seconds=CLASSIFY_TIMEOUT_S)

    async def left_alone(spam: dict, then: User) -> None:
        """`spam` is not judged: a later spam photo by `then` is flagged, and `spam` never was."""
        later = await telegram.send_group_photo(group, then, sample.photo, sample.contradicting)
        await flagged(telegram, group, later)
        assert replies_to(telegram, group.id, spam["message_id"]) == []

    # Rita's photos until she is trusted: a spam one (flagged), then TRUST_AFTER clean ones; four photos
    # classified in all, this module's per-sender flood limit.
    spam = await telegram.send_group_photo(group, regular, sample.photo, sample.contradicting)
    await flagged(telegram, group, spam)
    assert (await standing(bot, group, regular)).clean_posts == 0
    for expected in range(1, TRUST_AFTER + 1):
        await post_clean(expected)
    trusted_spam = await telegram.send_group_photo(group, regular, sample.photo, sample.contradicting)
    await left_alone(trusted_spam, then=newcomer)

    # Only an admin takes it back, replying to the member's message; the count starts from zero.
    refused = await telegram.send_text(group, newcomer, "/untrust", reply_to=trusted_spam)
    reply = await telegram.wait_for_message(group.id, after_message_id=refused["message_id"])
    assert reply["text"] == text("admin_only", "en")
    revoked = await telegram.send_text(group, admin, "/untrust", reply_to=trusted_spam)
    reply = await telegram.wait_for_message(group.id, after_message_id=revoked["message_id"])
    assert reply["text"] == text("untrusted", "en", name="Rita")
    assert await standing(bot, group, regular) == repository.MemberStanding(clean_posts=0, approved=False)
    spam = await telegram.send_group_photo(group, regular, sample.photo, sample.contradicting)
    await flagged(telegram, group, spam)

    # An admin's /trust, as a reply, trusts a member at once; without a reply it says how.
    hello = await telegram.send_text(group, newcomer, "hello")
    usage = await telegram.send_command(group, admin, "/trust")
    reply = await telegram.wait_for_message(group.id, after_message_id=usage["message_id"])
    assert reply["text"] == text("trust_usage", "en")
    granted = await telegram.send_text(group, admin, "/trust", reply_to=hello)
    reply = await telegram.wait_for_message(group.id, after_message_id=granted["message_id"])
    assert reply["text"] == text("trusted", "en", name="Nick")
    assert (await standing(bot, group, newcomer)).approved
    approved_spam = await telegram.send_group_photo(group, newcomer, sample.photo, sample.contradicting)
    await left_alone(approved_spam, then=telegram.new_user("Sam"))
