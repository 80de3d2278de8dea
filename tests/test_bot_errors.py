"""The global error handler: logs the traceback, apologises in private chats, stays quiet in groups."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from telegram import Update

from bot.handlers.errors import on_error
from bot.i18n import text


class RecordingBot:
    def __init__(self) -> None:
        self.sent: list[dict] = []

    async def send_message(self, **kwargs):
        self.sent.append(kwargs)


def update(chat: dict, language_code: str = "ru") -> tuple[Update, RecordingBot]:
    bot = RecordingBot()
    data = {
        "update_id": 1,
        "message": {
            "message_id": 5,
            "date": 0,
            "chat": chat,
            "from": {"id": 7, "is_bot": False, "first_name": "A", "language_code": language_code},
            "photo": [{"file_id": "f", "file_unique_id": "u", "width": 1, "height": 1}],
        },
    }
    parsed = Update.de_json(data, None)
    parsed.message.set_bot(bot)
    return parsed, bot


def context(error: Exception) -> SimpleNamespace:
    return SimpleNamespace(error=error, bot_data={})


async def test_private_chat_gets_a_plain_apology_and_the_log_gets_the_traceback(caplog):
    private, bot = update({"id": 7, "type": "private"})
    with caplog.at_level(logging.ERROR):
        await on_error(private, context(RuntimeError("boom")))
    (sent,) = bot.sent
    assert sent["text"] == text("error_internal", "en")  # no services yet: the default language
    assert "boom" not in sent["text"] and "Traceback" not in sent["text"]
    assert caplog.records[0].exc_info[1].args == ("boom",)


async def test_groups_stay_quiet_and_non_updates_are_only_logged(caplog):
    group, bot = update({"id": -100, "type": "supergroup", "title": "g"})
    await on_error(group, context(RuntimeError("boom")))
    await on_error(None, context(RuntimeError("no update")))
    await on_error({"not": "an update"}, context(ValueError("junk")))
    assert bot.sent == []
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 3
