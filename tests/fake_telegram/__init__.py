"""A fake Telegram Bot API server for tests and benchmarks: the real bot talks HTTP to it on 127.0.0.1.

    async with FakeTelegram() as telegram:
        settings = BotSettings(**{k.lower(): v for k, v in telegram.env().items()})  # token + base URLs
        alice = telegram.new_user("Alice", language_code="ru")
        sent = await telegram.send_private_photo(alice, jpeg_bytes)
        reply = await telegram.wait_for_message(alice.id, lambda m: "#" in m.get("text", ""),
                                                after_message_id=sent["message_id"])

Faithful where bots commonly go wrong: getUpdates long polling with offset confirmation and one consumer
(a second poller gets 409), allowed_updates (chat_member only when asked), getFile + download path,
form/multipart/JSON parameters decoded by type, HTML/MarkdownV2 parse modes with Telegram's errors,
UTF-16 entity offsets, per-chat message ids, edits that drop an omitted keyboard, delete rights in groups,
error objects `{"ok": false, "error_code", "description"}` with Telegram's descriptions.
Not modelled: inline mode, payments, media groups, forum topics, privacy mode, rate limits (see `fail_next`).
"""

from tests.fake_telegram.objects import GROUP_ANONYMOUS_BOT, TELEGRAM_SERVICE, Chat, User
from tests.fake_telegram.server import DEFAULT_TOKEN, FakeTelegram

__all__ = ["DEFAULT_TOKEN", "GROUP_ANONYMOUS_BOT", "TELEGRAM_SERVICE", "Chat", "FakeTelegram", "User"]
