"""The fake Bot API server speaks the Bot API as python-telegram-bot's own `Bot` and `Application` expect."""

from __future__ import annotations

import asyncio
import io

import aiohttp
import pytest
from aiohttp import web
from PIL import Image
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, RetryAfter
from telegram.ext import Application, CommandHandler, ContextTypes

from tests.fake_telegram import FakeTelegram
from tests.fake_telegram.entities import EntityParseError, detect_entities, render
from tests.fake_telegram.state import Upload


def _jpeg(width: int = 400, height: int = 300, color: tuple[int, int, int] = (200, 120, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture
async def telegram():
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
async def bot(telegram: FakeTelegram):
    async with Bot(
        telegram.token, base_url=telegram.base_url, base_file_url=telegram.base_file_url
    ) as ptb_bot:
        yield ptb_bot


async def _raw(telegram: FakeTelegram, path: str, **fields: object) -> tuple[int, dict]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"http://127.0.0.1:{telegram.port}{path}", data=fields) as response,
    ):
        return response.status, await response.json()


# -- entities, as pure functions --------------------------------------------------------------------


def test_hashtag_offsets_are_utf16_code_units() -> None:
    text = "☕😀 #cafe and #кофе, not#this nor #123"
    entities = detect_entities(text)
    assert [e["type"] for e in entities] == ["hashtag", "hashtag"]
    utf16 = text.encode("utf-16-le")
    tags = [utf16[2 * e["offset"] : 2 * (e["offset"] + e["length"])].decode("utf-16-le") for e in entities]
    assert tags == ["#cafe", "#кофе"]
    assert entities[0]["offset"] == 4  # ☕ is one code unit, 😀 two, then a space


def test_html_is_resolved_to_text_and_entities() -> None:
    text, entities = render("  <b>Tag:</b> <code>#cafe</code> 80%  ", "HTML")
    assert text == "Tag: #cafe 80%"
    assert {"type": "bold", "offset": 0, "length": 4} in entities
    assert {"type": "code", "offset": 5, "length": 5} in entities
    assert not any(e["type"] == "hashtag" for e in entities)  # not detected inside code


@pytest.mark.parametrize(
    ("source", "mode", "error"),
    [
        ("<blink>x</blink>", "HTML", 'Unsupported start tag "blink"'),
        ("<b>x", "HTML", 'start tag "b"'),
        ("80.5%", "MarkdownV2", "Character '.' is reserved"),
        ("*bold", "MarkdownV2", "Can't find end of Bold entity"),
    ],
)
def test_parse_errors_are_telegrams(source: str, mode: str, error: str) -> None:
    with pytest.raises(EntityParseError, match="can't parse entities") as info:
        render(source, mode)
    assert error in str(info.value)


def test_markdown_v2_escapes_and_links() -> None:
    text, entities = render(r"*Top:* \#cafe 80\.5% [why](https://example.org/a)", "MarkdownV2")
    assert text == "Top: #cafe 80.5% why"
    assert {"type": "bold", "offset": 0, "length": 4} in entities
    assert {"type": "text_link", "offset": 17, "length": 3, "url": "https://example.org/a"} in entities


# -- the HTTP surface -------------------------------------------------------------------------------


async def test_get_me_and_method_names_are_case_insensitive(telegram: FakeTelegram, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.is_bot and me.username == "scenetag_test_bot" and me.id == telegram.bot.id
    status, body = await _raw(telegram, f"/bot{telegram.token}/GETME")
    assert status == 200 and body["ok"] is True and body["result"]["id"] == telegram.bot.id


async def test_error_objects_have_telegrams_shape(telegram: FakeTelegram, bot: Bot) -> None:
    assert await _raw(telegram, f"/bot{telegram.token}/sendMessage", chat_id=42, text="hi") == (
        400,
        {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"},
    )
    assert await _raw(telegram, f"/bot{telegram.token}/noSuchMethod") == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found"},
    )
    assert (await _raw(telegram, "/bot1:wrong/getMe"))[1]["error_code"] == 401
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(chat_id=42, text="hi")
    with pytest.raises(InvalidToken, match="rejected by the server"):
        async with Bot("1:wrong", base_url=telegram.base_url):
            pass


async def test_bot_cannot_start_a_conversation_or_write_to_who_blocked_it(
    telegram: FakeTelegram, bot: Bot
) -> None:
    alice = telegram.new_user("Alice")
    telegram.state.add_chat(alice.private_chat)
    with pytest.raises(Forbidden, match="can't initiate conversation"):
        await bot.send_message(alice.id, "hello")
    await telegram.send_text(alice.private_chat, alice, "/start")
    await bot.send_message(alice.id, "hello")
    telegram.block_bot(alice)
    with pytest.raises(Forbidden, match="blocked by the user"):
        await bot.send_message(alice.id, "hello again")


async def test_send_message_with_keyboard_and_reply(telegram: FakeTelegram, bot: Bot) -> None:
    alice = telegram.new_user("Alice")
    incoming = await telegram.send_text(alice.private_chat, alice, "hi")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("👍", callback_data="fb:1:up")]])
    sent = await bot.send_message(
        alice.id, "<b>#cafe</b> 91%", parse_mode=ParseMode.HTML, reply_markup=keyboard,
        reply_parameters=ReplyParameters(incoming["message_id"]),
    )  # fmt: skip
    assert sent.text == "#cafe 91%" and sent.from_user.id == telegram.bot.id
    assert sent.reply_markup == keyboard
    assert sent.reply_to_message.message_id == incoming["message_id"]
    assert sent.message_id == incoming["message_id"] + 1  # message ids count per chat
    method, params = telegram.calls[-1]
    assert method == "sendMessage" and params["chat_id"] == alice.id
    assert params["reply_markup"] == {"inline_keyboard": [[{"text": "👍", "callback_data": "fb:1:up"}]]}
    assert telegram.messages_in(alice.id)[-1]["text"] == "#cafe 91%"
    with pytest.raises(BadRequest, match="replied not found"):
        await bot.send_message(alice.id, "x", reply_to_message_id=999)
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        too_long = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="x" * 65)]])
        await bot.send_message(alice.id, "x", reply_markup=too_long)


async def test_get_updates_long_polls_and_confirms_by_offset(telegram: FakeTelegram, bot: Bot) -> None:
    alice = telegram.new_user("Alice", language_code="ru")
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    assert not poll.done()  # waiting, not answering empty at once
    await telegram.send_private_photo(alice, _jpeg(), caption="#beach")
    updates = await asyncio.wait_for(poll, 2)
    assert len(updates) == 1
    message = updates[0].message
    assert message.from_user.language_code == "ru" and message.chat.type == "private"
    assert message.caption_entities[0].type == "hashtag"
    # Unconfirmed updates come again; an offset past them confirms and drops them.
    assert [u.update_id for u in await bot.get_updates(timeout=0)] == [updates[0].update_id]
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == ()
    assert await bot.get_updates(timeout=0) == ()


async def test_a_second_poller_ends_the_first_with_conflict(telegram: FakeTelegram, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    # A second bot process with the same token (one Bot never overlaps its own getUpdates calls).
    async with Bot(telegram.token, base_url=telegram.base_url) as twin:
        second = asyncio.create_task(twin.get_updates(timeout=0))
        with pytest.raises(Conflict, match="terminated by other getUpdates"):
            await asyncio.wait_for(first, 2)
        assert await second == ()


async def test_chat_member_updates_only_when_allowed(telegram: FakeTelegram, bot: Bot) -> None:
    group, alice = telegram.new_group(), telegram.new_user("Alice")
    assert await telegram.chat_member_update(group, alice, "member") is None  # not in the default set
    await telegram.chat_member_update(group, telegram.bot, "administrator", by=alice)
    await bot.get_updates(timeout=0, allowed_updates=Update.ALL_TYPES)
    await telegram.chat_member_update(group, alice, "left")
    updates = await bot.get_updates(timeout=0)
    assert [u.my_chat_member is not None for u in updates] == [True, False]
    assert updates[1].chat_member.new_chat_member.status == "left"


async def test_get_file_and_download(telegram: FakeTelegram, bot: Bot) -> None:
    alice = telegram.new_user()
    data = _jpeg(1000, 500)
    message = await telegram.send_private_photo(alice, data)
    sizes = message["photo"]
    assert [(s["width"], s["height"]) for s in sizes] == [(90, 45), (320, 160), (800, 400), (1000, 500)]
    assert len({s["file_unique_id"] for s in sizes}) == 4
    largest = await bot.get_file(sizes[-1]["file_id"])
    assert largest.file_path.startswith(telegram.base_file_url)
    assert bytes(await largest.download_as_bytearray()) == data
    buffer = io.BytesIO()
    await (await bot.get_file(sizes[0]["file_id"])).download_to_memory(buffer)
    assert Image.open(buffer).size == (90, 45)
    file_id, _ = await telegram.add_file(b"not an image")
    assert bytes(await (await bot.get_file(file_id)).download_as_bytearray()) == b"not an image"
    with pytest.raises(BadRequest, match="Invalid file_id"):
        await bot.get_file("nope")


async def test_image_sent_as_a_document(telegram: FakeTelegram, bot: Bot) -> None:
    alice = telegram.new_user()
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, "PNG")
    message = await telegram.send_document_image(alice, png.getvalue(), file_name="x.png")
    assert message["document"]["mime_type"] == "image/png"
    document = (await bot.get_updates(timeout=0))[0].message.document
    assert bytes(await (await bot.get_file(document.file_id)).download_as_bytearray()) == png.getvalue()


async def test_multipart_upload(telegram: FakeTelegram, bot: Bot) -> None:
    alice = telegram.new_user()
    await telegram.send_text(alice.private_chat, alice, "hi")
    data = _jpeg(200, 100)
    sent = await bot.send_photo(alice.id, photo=data, caption="#nature 88%")
    assert sent.caption == "#nature 88%" and sent.photo[-1].width == 200
    assert bytes(await (await bot.get_file(sent.photo[-1].file_id)).download_as_bytearray()) == data
    upload = next(params["photo"] for method, params in telegram.calls if method == "sendPhoto")
    assert isinstance(upload, Upload) and upload.data == data
    with pytest.raises(BadRequest, match="Image_process_failed"):
        await bot.send_photo(alice.id, photo=b"garbage")


async def test_document_upload_keeps_name_and_bytes(telegram: FakeTelegram, bot: Bot) -> None:
    alice = telegram.new_user()
    await telegram.send_text(alice.private_chat, alice, "hi")
    data = b"tag,count\ncafe,3\n"
    sent = await bot.send_document(alice.id, document=data, filename="stats.csv")
    assert sent.document.file_name == "stats.csv" and sent.document.mime_type == "text/csv"
    assert sent.document.file_size == len(data)
    assert bytes(await (await bot.get_file(sent.document.file_id)).download_as_bytearray()) == data


async def test_json_bodies_query_strings_and_negative_offsets(telegram: FakeTelegram) -> None:
    alice = telegram.new_user()
    for word in ("one", "two", "three"):
        await telegram.send_text(alice.private_chat, alice, word)
    base = f"http://127.0.0.1:{telegram.port}/bot{telegram.token}"
    markup = {"inline_keyboard": [[{"text": "ok", "callback_data": "ok"}]]}
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{base}/sendMessage", json={"chat_id": alice.id, "text": "hi", "reply_markup": markup}
        ) as r:
            assert (await r.json())["result"]["reply_markup"] == markup
        # A negative offset keeps only the last updates; limit caps the answer.
        async with session.get(f"{base}/getUpdates", params={"offset": "-2", "limit": "1"}) as r:
            body = await r.json()
    assert [u["message"]["text"] for u in body["result"]] == ["two"]
    assert telegram.state.updates.pending_count == 2


async def test_edits_follow_telegram_rules(telegram: FakeTelegram, bot: Bot) -> None:
    alice = telegram.new_user()
    await telegram.send_text(alice.private_chat, alice, "hi")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("on", callback_data="on")]])
    sent = await bot.send_message(alice.id, "Mode: off", reply_markup=keyboard)
    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_text("Mode: off", alice.id, sent.message_id, reply_markup=keyboard)
    edited = await bot.edit_message_text("Mode: on", alice.id, sent.message_id)
    assert edited.text == "Mode: on" and edited.reply_markup is None  # an edit without markup drops it
    edited = await bot.edit_message_reply_markup(alice.id, sent.message_id, reply_markup=keyboard)
    assert edited.reply_markup == keyboard and edited.edit_date is not None
    with pytest.raises(BadRequest, match="edit not found"):
        await bot.edit_message_text("x", alice.id, 999)


async def test_delete_needs_rights_in_groups(telegram: FakeTelegram, bot: Bot) -> None:
    group, alice, bob = telegram.new_group(), telegram.new_user("Alice"), telegram.new_user("Bob")
    spam = await telegram.send_group_photo(group, bob, _jpeg(), "#beach #sport ☕")
    assert [e["type"] for e in spam["caption_entities"]] == ["hashtag", "hashtag"]
    with pytest.raises(BadRequest, match="can't be deleted"):
        await bot.delete_message(group.id, spam["message_id"])
    await telegram.set_admins(group, [alice])
    assert await bot.delete_message(group.id, spam["message_id"]) is True
    assert telegram.deleted_messages == [(group.id, spam["message_id"])]
    assert telegram.messages_in(group.id) == []
    with pytest.raises(BadRequest, match="delete not found"):
        await bot.delete_message(group.id, spam["message_id"])

    album = await telegram.send_album(group, bob, [_jpeg(), _jpeg(color=(1, 2, 3))], "#beach #sport")
    late = await telegram.send_group_photo(group, bob, _jpeg(), media_group_id=album[0]["media_group_id"])
    ids = [m["message_id"] for m in [*album, late]]
    await telegram.set_admins(group, [alice], bot_is_admin=False)
    with pytest.raises(BadRequest, match="can't be deleted"):  # none is deleted
        await bot.delete_messages(group.id, ids)
    await telegram.set_admins(group, [alice])
    assert await bot.delete_messages(group.id, [*ids, 999]) is True  # one not found is skipped
    assert telegram.deleted_messages[-3:] == [(group.id, i) for i in ids]
    with pytest.raises(BadRequest, match="delete not found"):
        await bot.delete_messages(group.id, ids)

    admins = await bot.get_chat_administrators(group.id)
    assert [(a.user.id, a.status) for a in admins] == [
        (alice.id, "creator"),
        (telegram.bot.id, "administrator"),
    ]
    assert (await bot.get_chat_member(group.id, bob.id)).status == "member"
    chat = await bot.get_chat(group.id)
    assert chat.type == "supergroup" and chat.title == group.title
    anonymous = await telegram.send_group_photo(group, group, _jpeg())
    assert anonymous["sender_chat"]["id"] == group.id and anonymous["from"]["username"] == "GroupAnonymousBot"


async def test_who_a_group_message_comes_from_as_telegram_attributes_it(
    telegram: FakeTelegram, bot: Bot
) -> None:
    group, alice = telegram.new_group(), telegram.new_user("Alice")
    news, own = telegram.new_channel("Group news"), telegram.new_channel("Alice's channel")
    assert (await bot.get_chat(group.id)).linked_chat_id is None
    telegram.link_channel(group, news)
    assert (await bot.get_chat(group.id)).linked_chat_id == news.id

    post = await telegram.send_group_photo(group, news, _jpeg(), "#news")
    assert post["is_automatic_forward"] and post["sender_chat"]["id"] == news.id
    assert post["forward_origin"]["chat"]["id"] == news.id and post["from"]["id"] == 777000
    as_own = await telegram.send_group_photo(group, own, _jpeg(), "#beach #sport")
    assert as_own["sender_chat"]["id"] == own.id and as_own["from"]["username"] == "Channel_Bot"
    assert "is_automatic_forward" not in as_own and "forward_origin" not in as_own
    command = await telegram.send_command(group, news, "/moderation off")  # written as the linked channel
    assert command["sender_chat"]["id"] == news.id and "is_automatic_forward" not in command
    forwarded = await telegram.send_group_photo(group, alice, _jpeg(), "#ad", forwarded_from=own)
    assert forwarded["from"]["id"] == alice.id and forwarded["forward_origin"]["chat"]["id"] == own.id

    album = await telegram.send_album(group, alice, [_jpeg(), _jpeg(color=(1, 2, 3))], "#beach #sport")
    assert len({m["media_group_id"] for m in album}) == 1 and len({m["message_id"] for m in album}) == 2
    assert album[0]["caption"] == "#beach #sport" and "caption" not in album[1]

    honest = await telegram.send_group_photo(group, alice, _jpeg(), "#cafe")
    edited = await telegram.edit_caption(honest, "#beach #sport")
    updates = await bot.get_updates(timeout=0)
    last = updates[-1]
    assert last.edited_message is not None and last.edited_message.message_id == honest["message_id"]
    assert last.edited_message.caption == "#beach #sport" and last.edited_message.edit_date is not None
    assert [e.type for e in last.edited_message.caption_entities] == ["hashtag", "hashtag"]
    assert telegram.state.message(group.id, honest["message_id"]) is edited


async def test_callback_query_is_answered_once(telegram: FakeTelegram, bot: Bot) -> None:
    alice = telegram.new_user()
    await telegram.send_text(alice.private_chat, alice, "hi")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("👎", callback_data="fb:down")]])
    sent = await bot.send_message(alice.id, "#cafe", reply_markup=keyboard)
    with pytest.raises(AssertionError, match="no button"):
        await telegram.press_button(sent.to_dict(), "fb:up", alice)
    query_id = await telegram.press_button(sent.to_dict(), "fb:down", alice)
    query = (await bot.get_updates(timeout=0))[-1].callback_query
    assert query.id == query_id and query.data == "fb:down" and query.message.message_id == sent.message_id
    assert await query.answer("Thanks!") is True
    assert telegram.callback_answers[query_id]["text"] == "Thanks!"
    with pytest.raises(BadRequest, match="Query is too old"):
        await query.answer()


async def test_commands_are_stored_per_language_and_scope(telegram: FakeTelegram, bot: Bot) -> None:
    await bot.set_my_commands([("start", "Start"), ("help", "Help")])
    await bot.set_my_commands([("start", "Начать")], language_code="ru")
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
    assert [c.description for c in await bot.get_my_commands(language_code="ru")] == ["Начать"]
    assert telegram.my_commands("ru") == [{"command": "start", "description": "Начать"}]
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([("Start!", "bad")])


@pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")
async def test_chat_action_and_injected_flood_wait(telegram: FakeTelegram, bot: Bot) -> None:
    alice = telegram.new_user()
    await telegram.send_text(alice.private_chat, alice, "hi")
    assert await bot.send_chat_action(alice.id, "typing") is True
    with pytest.raises(BadRequest, match="Wrong parameter action"):
        await bot.send_chat_action(alice.id, "dancing")
    telegram.fail_next("sendMessage", retry_after=3)
    with pytest.raises(RetryAfter):
        await bot.send_message(alice.id, "x")
    await bot.send_message(alice.id, "x")


async def test_webhook_receives_updates_with_secret(telegram: FakeTelegram, bot: Bot) -> None:
    received: list[tuple[str | None, dict]] = []

    async def receive(request: web.Request) -> web.Response:
        received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json()))
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
        await bot.set_webhook(url, secret_token="s3cret")
        with pytest.raises(Conflict, match="webhook is active"):
            await bot.get_updates()
        alice = telegram.new_user()
        await telegram.send_text(alice.private_chat, alice, "/start")
        for _ in range(50):
            if received:
                break
            await asyncio.sleep(0.05)
        assert received[0][0] == "s3cret" and received[0][1]["message"]["text"] == "/start"
        assert (await bot.get_webhook_info()).pending_update_count == 0
        await bot.delete_webhook()
        assert (await bot.get_webhook_info()).url == ""
    finally:
        await runner.cleanup()


async def test_a_real_application_polls_and_replies(telegram: FakeTelegram) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_message.reply_text(f"hello {update.effective_user.first_name}")

    application = (
        Application.builder()
        .token(telegram.token)
        .base_url(telegram.base_url)
        .base_file_url(telegram.base_file_url)
        .build()
    )
    application.add_handler(CommandHandler("start", start))
    alice = telegram.new_user("Alice")
    async with application:
        await application.start()
        await application.updater.start_polling(poll_interval=0, timeout=2)
        sent = await telegram.send_command(alice.private_chat, alice, "/start")
        reply = await telegram.wait_for_message(alice.id, after_message_id=sent["message_id"], timeout=10)
        assert reply["text"] == "hello Alice"
        await application.updater.stop()
        await application.stop()
    assert [m for m, _ in telegram.calls[:2]] == ["getMe", "deleteWebhook"]
    assert telegram.state.updates.pending_count == 0  # confirmed on shutdown
