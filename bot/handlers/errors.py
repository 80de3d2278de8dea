"""The global error handler: log with the traceback, answer in private chats, never show a traceback."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.i18n import text
from bot.services import SERVICES_KEY

logger = logging.getLogger(__name__)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the error; in a private chat tell the user something went wrong (a photo never goes unanswered)."""
    logger.error("error while handling an update", exc_info=context.error)
    if not isinstance(update, Update) or update.effective_message is None or update.effective_chat is None:
        return
    if update.effective_chat.type != ChatType.PRIVATE or update.callback_query is not None:
        return  # groups stay quiet; a failed button press just stops spinning on Telegram's side
    svc = context.bot_data.get(SERVICES_KEY)
    user = update.effective_user
    language = svc.language(user.language_code if user else None) if svc else "en"
    try:
        await update.effective_message.reply_text(text("error_internal", language))
    except TelegramError as error:
        logger.warning("could not tell the user about the error: %s", error)
