"""👍/👎 under a suggestion: stored with it as a training signal for operators."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot import metrics
from bot.callbacks import parse_feedback
from bot.i18n import text
from bot.services import services
from storage import repository

logger = logging.getLogger(__name__)


async def feedback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Store the user's 👍/👎 on their own suggestion and remove the buttons."""
    query = update.callback_query
    choice = parse_feedback(query.data if query else None)
    if query is None or choice is None:
        return
    svc = services(context)
    language = svc.language(query.from_user.language_code)
    async with svc.sessions.begin() as session:
        stored = await repository.set_feedback(
            session, choice.suggestion_id, user_id=query.from_user.id, feedback=choice.feedback
        )
    if not stored:
        await query.answer(text("feedback_not_yours", language), show_alert=True)
        return
    metrics.count_feedback(choice.feedback)
    await query.answer(text("feedback_thanks", language))
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except BadRequest as error:  # already edited by a double press
        logger.debug("feedback buttons not removed: %s", error)
