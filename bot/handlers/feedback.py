"""👍/👎 under a suggestion, and after 👎 "which tag fits?": stored with it as training data for operators.

Each suggestion is rated once and its question asked once: a second press, or a stale button, gets a short
answer. Only the user who sent the photo can rate it (the repository checks the suggestion's user).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from telegram import CallbackQuery, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot.callbacks import correction_keyboard, parse_correction, parse_feedback
from bot.i18n import Language, text
from bot.replies import with_correction, with_question
from bot.services import services
from storage import repository
from storage.repository import Rating

logger = logging.getLogger(__name__)


async def feedback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Store the user's 👍/👎 on their own suggestion; after 👎 ask which tag fits, else drop the buttons."""
    query = update.callback_query
    choice = parse_feedback(query.data if query else None)
    if query is None or choice is None:
        return
    svc = services(context)
    language = svc.language(query.from_user.language_code)
    async with svc.sessions.begin() as session:
        rating = await repository.set_feedback(
            session, choice.suggestion_id, user_id=query.from_user.id, feedback=choice.feedback
        )
    if await _refused(query, rating, language):
        return
    if choice.feedback == "up":
        await query.answer(text("feedback_thanks", language))
        await _edit(query, None, None)
        return
    await query.answer(text("which_tag", language))
    keyboard = correction_keyboard(choice.suggestion_id, await svc.suggestable_tags(), language)
    await _edit(query, keyboard, lambda reply: with_question(reply, language))


async def correction(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Store the tag the user picked after their 👎 (`other`: none of these) and say it was noted."""
    query = update.callback_query
    choice = parse_correction(query.data if query else None)
    if query is None or choice is None:
        return
    svc = services(context)
    language = svc.language(query.from_user.language_code)
    async with svc.sessions.begin() as session:
        rating = await repository.set_correction(
            session, choice.suggestion_id, user_id=query.from_user.id, tag=choice.tag
        )
    if await _refused(query, rating, language):
        return
    await query.answer(text("feedback_thanks", language))
    await _edit(query, None, lambda reply: with_correction(reply, choice.tag, language))


async def _refused(query: CallbackQuery, rating: Rating, language: Language) -> bool:
    """Answers a press that stored nothing (someone else's photo, or rated already); True when refused."""
    if rating is Rating.NOT_YOURS:
        await query.answer(text("feedback_not_yours", language), show_alert=True)
    elif rating is Rating.ALREADY:
        await query.answer(text("feedback_already", language))
    return rating is not Rating.STORED


async def _edit(
    query: CallbackQuery, keyboard: InlineKeyboardMarkup | None, rewrite: Callable[[str], str] | None
) -> None:
    """Replace the suggestion's keyboard and, with `rewrite`, its text (kept if Telegram did not send it)."""
    message = query.message
    try:
        if rewrite is not None and isinstance(message, Message) and message.text:
            await query.edit_message_text(rewrite(message.text), reply_markup=keyboard)
        else:
            await query.edit_message_reply_markup(reply_markup=keyboard)
    except BadRequest as error:  # already edited by a double press
        logger.debug("suggestion message not edited: %s", error)
