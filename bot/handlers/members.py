"""Chat-member updates: drop the chat's cached administrators so the next check asks Telegram."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.services import services


async def membership_changed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Someone was promoted, demoted, joined or left (the bot included): forget the admin list."""
    if update.effective_chat is not None:
        await services(context).admins.invalidate(update.effective_chat.id)
