"""The real bot end to end: fake Bot API server <-> `build_application` <-> private Redis <-> real worker.

One worker and one bot serve the whole module (see conftest.py); each test uses its own users and chats.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import select

from bot.i18n import text
from bot.replies import error_text
from storage import repository
from storage.models import Flag, Suggestion
from tests.e2e.conftest import answers_to, buttons, eventually, replies_to
from tests.e2e.test_bot_e2e_stats import caption_of
from worker.contract import ErrorCode

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

CLASSIFY_TIMEOUT_S = 60.0  # a photo through Redis and the CPU worker on a busy 2-core machine


async def test_private_photo_gets_a_hashtag_and_feedback_is_stored(telegram, bot, sample):
    alice = telegram.new_user("Alice")
    calls_before = len(telegram.calls)
    sent = await telegram.send_private_photo(alice, sample.photo)
    reply = await telegram.wait_for_message(
        alice.id, lambda m: "text" in m, after_message_id=sent["message_id"], timeout=CLASSIFY_TIMEOUT_S
    )
    assert reply["text"].splitlines()[0] == f"#{sample.tag}"
    assert "Confidence" in reply["text"]
    await telegram.wait_for_call("sendChatAction", after=calls_before, timeout=1)

    up, down = buttons(reply)
    assert (up["text"], down["text"]) == ("👍", "👎")
    query_id = await telegram.press_button(reply, up["callback_data"], alice)
    await telegram.wait_for_call("answerCallbackQuery", lambda p: p["callback_query_id"] == query_id)
    await telegram.wait_for_call("editMessageReplyMarkup", after=calls_before)
    suggestion_id = int(up["callback_data"].split(":")[1])
    async with bot.services.sessions() as session:
        suggestion = await session.get(Suggestion, suggestion_id)
    assert (suggestion.user_id, suggestion.chat_id, suggestion.tag) == (alice.id, alice.id, sample.tag)
    assert suggestion.feedback == "up"
    assert suggestion.file_unique_id and suggestion.model_version and suggestion.latency_ms > 0
    assert suggestion.file_id == sent["photo"][-1]["file_id"]  # kept by default, for training


def enlarged(photo: bytes, side: int) -> bytes:
    """`photo` as a phone's square photo of `side` px (Telegram then makes copies of 90, 320 and 800 px)."""
    buffer = io.BytesIO()
    Image.open(io.BytesIO(photo)).convert("RGB").resize((side, side)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


async def test_the_bot_downloads_the_smallest_copy_the_model_needs(telegram, bot, sample):
    gus = telegram.new_user("Gus")
    calls_before = len(telegram.calls)
    sent = await telegram.send_private_photo(gus, enlarged(sample.photo, 1280))
    reply = await telegram.wait_for_message(
        gus.id, lambda m: "text" in m, after_message_id=sent["message_id"], timeout=CLASSIFY_TIMEOUT_S
    )
    assert reply["text"].splitlines()[0] == f"#{sample.tag}"
    copies = sent["photo"]
    assert [(c["width"], c["height"]) for c in copies] == [(90, 90), (320, 320), (800, 800), (1280, 1280)]
    # The shipped model sees 260 px, as its worker published: the 320 px copy is enough.
    assert await bot.services.model_input_side() == 260
    fetched = [params["file_id"] for method, params in telegram.calls[calls_before:] if method == "getFile"]
    assert fetched == [copies[1]["file_id"]]
    async with bot.services.sessions() as session:
        stored = (await session.scalars(select(Suggestion).where(Suggestion.user_id == gus.id))).one()
    # The stored ids stay the largest copy's: feedback export downloads that one for training.
    assert (stored.file_unique_id, stored.file_id) == (copies[-1]["file_unique_id"], copies[-1]["file_id"])


async def test_thumbs_down_asks_once_which_tag_fits_and_stores_the_pick(telegram, bot, sample):
    erin = telegram.new_user("Erin")
    sent = await telegram.send_private_photo(erin, sample.photo)
    reply = await telegram.wait_for_message(
        erin.id, lambda m: "text" in m, after_message_id=sent["message_id"], timeout=CLASSIFY_TIMEOUT_S
    )
    _, down = buttons(reply)
    suggestion_id = int(down["callback_data"].split(":")[1])
    calls_before = len(telegram.calls)

    # A double press reaches the bot before it edits the message: one press asks, the other is told it's done.
    presses = [await telegram.press_button(reply, down["callback_data"], erin) for _ in range(2)]
    assert sorted(await answers_to(telegram, presses)) == sorted(
        [text("which_tag", "en"), text("feedback_already", "en")]
    )
    question = await telegram.wait_for_message(
        erin.id, lambda m: m["message_id"] == reply["message_id"] and "Which tag fits?" in m["text"]
    )
    assert question["text"].startswith(reply["text"])
    offered = {button["text"]: button["callback_data"] for button in buttons(question)}
    assert "None of these" in offered and f"#{sample.tag}" in offered
    assert "#sky" not in offered  # the serving model's tags only
    edits = [p for m, p in telegram.calls[calls_before:] if m == "editMessageText"]
    assert len(edits) == 1  # asked once

    other_tag = next(label for label in offered if label.startswith("#") and label != f"#{sample.tag}")
    picks = {offered[other_tag]: other_tag.removeprefix("#"), offered["None of these"]: "other"}
    presses = [await telegram.press_button(question, data, erin) for data in picks]
    assert sorted(await answers_to(telegram, presses)) == sorted(
        [text("feedback_thanks", "en"), text("feedback_already", "en")]
    )
    noted = await telegram.wait_for_message(
        erin.id, lambda m: m["message_id"] == reply["message_id"] and "noted" in m["text"]
    )
    assert buttons(noted) == [] and "Which tag fits?" not in noted["text"]
    async with bot.services.sessions() as session:
        suggestion = await session.get(Suggestion, suggestion_id)
    assert (suggestion.feedback, suggestion.tag) == ("down", sample.tag)
    assert suggestion.corrected_tag in picks.values() and suggestion.corrected_at is not None
    shown = "None of these" if suggestion.corrected_tag == "other" else f"#{suggestion.corrected_tag}"
    assert shown in noted["text"]
    assert suggestion.file_id == sent["photo"][-1]["file_id"]


async def test_opting_out_in_settings_forgets_the_photo_ids_and_keeps_no_more(telegram, bot, sample):
    fay = telegram.new_user("Fay")

    async def suggestion_of(sent: dict) -> Suggestion:
        reply = await telegram.wait_for_message(
            fay.id, lambda m: "text" in m, after_message_id=sent["message_id"], timeout=CLASSIFY_TIMEOUT_S
        )
        async with bot.services.sessions() as session:
            return await session.get(Suggestion, int(buttons(reply)[0]["callback_data"].split(":")[1]))

    kept = await suggestion_of(await telegram.send_private_photo(fay, sample.photo))
    assert kept.file_id is not None

    sent = await telegram.send_command(fay.private_chat, fay, "/settings")
    panel = await telegram.wait_for_message(fay.id, after_message_id=sent["message_id"])
    assert panel["text"] == text("keep_photo_ids_on", "en")
    (stop,) = buttons(panel)
    assert stop["text"] == "Stop keeping photo ids for training"
    query_id = await telegram.press_button(panel, stop["callback_data"], fay)
    assert await answers_to(telegram, [query_id]) == [text("settings_saved", "en")]
    await telegram.wait_for_message(fay.id, lambda m: m["text"] == text("keep_photo_ids_off", "en"))
    async with bot.services.sessions() as session:
        assert (await session.get(Suggestion, kept.id)).file_id is None  # forgotten
        assert (await session.get(Suggestion, kept.id)).file_unique_id == kept.file_unique_id

    later = await suggestion_of(await telegram.send_private_photo(fay, sample.photo))
    assert later.id != kept.id and later.file_id is None


async def test_image_file_bad_file_and_help_in_russian(telegram, bot, sample):
    boris = telegram.new_user("Boris", language_code="ru")
    sent = await telegram.send_document_image(boris, sample.photo, file_name="photo.jpg")
    reply = await telegram.wait_for_message(
        boris.id, lambda m: "text" in m, after_message_id=sent["message_id"], timeout=CLASSIFY_TIMEOUT_S
    )
    assert reply["text"].splitlines()[0] == f"#{sample.tag}"
    assert "Уверенность" in reply["text"]

    sent = await telegram.send_document_image(boris, b"\xff\xd8 not really a jpeg", mime_type="image/jpeg")
    reply = await telegram.wait_for_message(
        boris.id, lambda m: "text" in m, after_message_id=sent["message_id"], timeout=CLASSIFY_TIMEOUT_S
    )
    assert reply["text"] in {error_text(code, "ru") for code in ErrorCode}
    assert reply["text"] != error_text(ErrorCode.INTERNAL, "ru")  # a phrased image error, not our fault

    sent = await telegram.send_command(boris.private_chat, boris, "/help")
    reply = await telegram.wait_for_message(boris.id, after_message_id=sent["message_id"])
    assert "#cafe" in reply["text"] and "Приватность" in reply["text"]
    # The running worker published what its model can suggest: no tag without training photos.
    assert "#sky" not in reply["text"] and "#science" not in reply["text"]
    assert any(c["command"] == "help" for c in telegram.my_commands("ru"))
    admin_scope = {"type": "all_chat_administrators"}
    assert any(c["command"] == "moderation" for c in telegram.my_commands("", admin_scope))


async def test_group_moderation_only_when_on_and_only_by_admins(telegram, bot, sample):
    group = telegram.new_group("Photo club")
    olga, carol = telegram.new_user("Olga"), telegram.new_user("Carol")
    await telegram.set_admins(group, [olga])

    async def stats() -> repository.ChatStats:
        async with bot.services.sessions() as session:
            return await repository.chat_stats(session, group.id)

    async def photos_counted() -> bool:
        return (await stats()).photos >= 1

    def flags_at_least(count: int) -> Callable[[], object]:
        async def enough() -> bool:
            return (await stats()).flags >= count

        return enough

    # Off by default: a contradicting caption is not judged (the handler returns after counting it).
    off = await telegram.send_group_photo(group, carol, sample.photo, sample.contradicting)
    await eventually(photos_counted, "the photo to be counted")

    # A member cannot switch it on, nor press the settings buttons.
    sent = await telegram.send_command(group, carol, "/moderation on")
    reply = await telegram.wait_for_message(group.id, after_message_id=sent["message_id"])
    assert reply["text"] == text("admin_only", "en")
    sent = await telegram.send_command(group, olga, "/moderation on")
    panel = await telegram.wait_for_message(group.id, after_message_id=sent["message_id"])
    assert "is on" in panel["text"]
    query_id = await telegram.press_button(panel, "set:mode:delete", carol)
    answer = await telegram.wait_for_call("answerCallbackQuery", lambda p: p["callback_query_id"] == query_id)
    assert answer.get("show_alert") and answer["text"] == text("admin_only", "en")

    # Flag mode: the bot replies to the contradicting photo, naming the scene; admins' posts are exempt.
    anonymous = await telegram.send_group_photo(group, group, sample.photo, sample.contradicting)
    flagged = await telegram.send_group_photo(group, carol, sample.photo, sample.contradicting)
    notice = await telegram.wait_for_message(
        group.id,
        lambda m: m.get("reply_to_message", {}).get("message_id") == flagged["message_id"],
        timeout=CLASSIFY_TIMEOUT_S,
    )
    assert f"#{sample.tag}" in notice["text"]
    assert replies_to(telegram, group.id, off["message_id"]) == []
    assert replies_to(telegram, group.id, anonymous["message_id"]) == []

    # "Not spam" from a member is refused; from an admin it records the false positive.
    not_spam, _ = buttons(notice)
    query_id = await telegram.press_button(notice, not_spam["callback_data"], carol)
    await telegram.wait_for_call("answerCallbackQuery", lambda p: p["callback_query_id"] == query_id)
    query_id = await telegram.press_button(notice, not_spam["callback_data"], olga)
    answer = await telegram.wait_for_call("answerCallbackQuery", lambda p: p["callback_query_id"] == query_id)
    assert answer["text"] == text("not_spam_recorded", "en")
    async with bot.services.sessions() as session:
        flag = await session.get(Flag, int(not_spam["callback_data"].split(":")[1]))
    assert (flag.message_id, flag.action, flag.admin_verdict, flag.verdict_by) == (
        flagged["message_id"],
        "flag",
        "not_spam",
        olga.id,
    )
    assert flag.file_id == flagged["photo"][-1]["file_id"] and flag.model_version
    assert flag.caption_scene_tags and sample.tag not in flag.caption_scene_tags

    # Delete mode, set by the admin through /settings.
    sent = await telegram.send_command(group, olga, "/settings")
    panel = await telegram.wait_for_message(group.id, after_message_id=sent["message_id"])
    query_id = await telegram.press_button(panel, "set:mode:delete", olga)
    answer = await telegram.wait_for_call("answerCallbackQuery", lambda p: p["callback_query_id"] == query_id)
    assert answer["text"] == text("settings_saved", "en")
    deleted = await telegram.send_group_photo(group, carol, sample.photo, sample.contradicting)
    await eventually(
        lambda: (group.id, deleted["message_id"]) in telegram.deleted_messages,
        "the photo to be deleted",
        seconds=CLASSIFY_TIMEOUT_S,
    )
    await telegram.wait_for_message(group.id, lambda m: "removed a photo" in m.get("text", ""))

    # Dry run: recorded, nothing posted or deleted.
    query_id = await telegram.press_button(panel, "set:mode:dry-run", olga)
    await telegram.wait_for_call("answerCallbackQuery", lambda p: p["callback_query_id"] == query_id)
    recorded = await telegram.send_group_photo(group, carol, sample.photo, sample.contradicting)
    await eventually(flags_at_least(3), "the dry-run flag to be recorded", seconds=CLASSIFY_TIMEOUT_S)
    assert replies_to(telegram, group.id, recorded["message_id"]) == []
    assert (group.id, recorded["message_id"]) not in telegram.deleted_messages

    sent = await telegram.send_command(group, olga, "/stats")
    reply = await telegram.wait_for_message(group.id, after_message_id=sent["message_id"])
    numbers = text("stats", "en", photos=5, suggestions=0, flags=3, false_positives=1)
    assert reply["caption"] == caption_of(numbers, [timedelta(0)] * 3, "en")  # the first flag: not spam
    assert reply["photo"]  # the chart (tests/e2e/test_bot_e2e_stats.py)
    async with bot.services.sessions() as session:
        actions = (await session.scalars(select(Flag.action).where(Flag.chat_id == group.id))).all()
    assert sorted(actions) == ["delete", "flag", "record"]


async def test_promotion_refreshes_the_admin_cache(telegram, bot):
    group = telegram.new_group("Hikers")
    olga, carol = telegram.new_user("Olga"), telegram.new_user("Carol")
    await telegram.set_admins(group, [olga])
    sent = await telegram.send_command(group, carol, "/moderation on")
    reply = await telegram.wait_for_message(group.id, after_message_id=sent["message_id"])
    assert reply["text"] == text("admin_only", "en")
    assert await bot.services.admins.get(group.id) is not None  # cached, in Redis

    await telegram.chat_member_update(group, carol, "administrator", by=olga)

    async def invalidated() -> bool:
        return await bot.services.admins.get(group.id) is None

    await eventually(invalidated, "the cache to be invalidated")
    sent = await telegram.send_command(group, carol, "/moderation on")
    reply = await telegram.wait_for_message(group.id, after_message_id=sent["message_id"])
    assert "is on" in reply["text"]


async def test_help_is_answered_at_once_while_the_worker_is_saturated(telegram, bot, sample):
    """80 photos in flight hold no handler: /help is answered while most of them still wait."""
    senders = [telegram.new_user(f"Sat{i}") for i in range(8)]
    photos = [
        (user, await telegram.send_private_photo(user, sample.photo)) for user in senders for _ in range(10)
    ]
    asker = telegram.new_user("Helen")
    sent = await telegram.send_command(asker.private_chat, asker, "/help")
    await telegram.wait_for_message(asker.id, after_message_id=sent["message_id"], timeout=30)

    def answered() -> int:  # the bot's messages in the senders' private chats (they hold nothing else)
        return sum(
            m.get("from", {}).get("id") == telegram.bot.id
            for user in senders
            for m in telegram.messages_in(user.id)
        )

    assert answered() < len(photos) / 2, "the worker was not saturated: the test proved nothing"
    await eventually(
        lambda: answered() == len(photos), "every photo's answer", seconds=CLASSIFY_TIMEOUT_S * 2
    )


async def test_redis_outage_gives_busy_then_the_bot_recovers(telegram, bot, sample, redis_server, workers):
    dave = telegram.new_user("Dave")
    redis_server.stop()
    try:
        sent = await telegram.send_private_photo(dave, sample.photo)
        reply = await telegram.wait_for_message(dave.id, after_message_id=sent["message_id"], timeout=30)
        assert reply["text"] == text("busy", "en")
    finally:
        redis_server.start()
    # This test Redis keeps no data across a restart, so RQ's worker registrations are gone with it;
    # production Redis persists them (AOF). A worker started now registers again.
    await asyncio.to_thread(workers.start)
    sent = await telegram.send_private_photo(dave, sample.photo)
    reply = await telegram.wait_for_message(
        dave.id, after_message_id=sent["message_id"], timeout=CLASSIFY_TIMEOUT_S
    )
    assert reply["text"].splitlines()[0] == f"#{sample.tag}"
