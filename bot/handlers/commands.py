"""/start, /help, and anything else typed in a private chat: what the bot does, its tags, privacy."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.replies import help_text
from bot.services import services


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Explain what the bot does, list its tags and say which data it keeps."""
    message, user = update.effective_message, update.effective_user
    if message is None:
        return
    svc = services(context)
    language = svc.language(user.language_code if user else None)
    await message.reply_text(help_text(language, await svc.suggestable_tags()))
