"""👍/👎 under a suggestion, and after 👎 "which tag fits?" (after 👍 on a ranked list, "which of them?"):
stored with it as training data for operators.

Each suggestion is rated once and its question asked once: a second press, or a stale button, gets a short
answer. Only the user who sent the photo can rate it (the repository checks the suggestion's user).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import CallbackQuery, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot import metrics
from bot.callbacks import (
    CorrectionChoice,
    FeedbackChoice,
    correction_keyboard,
    parse_correction,
    parse_feedback,
    question_after,
)
from bot.i18n import Language, text
from bot.replies import with_correction, with_question
from bot.services import Services, services
from storage import repository
from storage.repository import Rating

logger = logging.getLogger(__name__)
Choice = TypeVar("Choice", FeedbackChoice, CorrectionChoice)


async def feedback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Store the user's 👍/👎 on their own suggestion; after 👎 ask which tag fits, after 👍 on a ranked list
    which of its tags, else drop the buttons."""
    pressed = await _store_press(
        update,
        context,
        parse_feedback,
        lambda session, user_id, choice: repository.set_feedback(
            session, choice.suggestion_id, user_id, choice.feedback
        ),
    )
    if pressed is None:
        return
    query, choice, svc, language = pressed
    metrics.count_feedback(choice.feedback)
    offered: list[str] = []
    if choice.feedback == "up":
        async with svc.sessions() as session:
            offered = await repository.offered_tags(session, choice.suggestion_id)
    question = question_after(choice.feedback, offered)
    if question is None:
        await query.answer(text("feedback_thanks", language))
        await _edit(query, None, None)
        return
    await query.answer(text(question, language))
    listed = choice.feedback == "up"
    tags = offered if listed else await svc.suggestable_tags()
    keyboard = correction_keyboard(choice.suggestion_id, tags, language, none_of_these=not listed)
    await _edit(query, keyboard, lambda reply: with_question(reply, language, question))


async def correction(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Store the tag the user picked after their 👎 (`other`: none of these), or from the list after their 👍,
    and say it was noted."""
    pressed = await _store_press(
        update,
        context,
        parse_correction,
        lambda session, user_id, choice: repository.set_correction(
            session, choice.suggestion_id, user_id, choice.tag
        ),
    )
    if pressed is None:
        return
    query, choice, _, language = pressed
    metrics.count_feedback("corrected")
    await query.answer(text("feedback_thanks", language))
    await _edit(query, None, lambda reply: with_correction(reply, choice.tag, language))


async def _store_press(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    parse: Callable[[str | None], Choice | None],
    store: Callable[[AsyncSession, int, Choice], Awaitable[Rating]],
) -> tuple[CallbackQuery, Choice, Services, Language] | None:
    """Store a press for the user who pressed; None when there was nothing to store (a refused press is
    answered here: someone else's photo, or rated already)."""
    query = update.callback_query
    choice = parse(query.data if query else None)
    if query is None or choice is None:
        return None
    svc = services(context)
    language = svc.language(query.from_user.language_code)
    async with svc.sessions.begin() as session:
        rating = await store(session, query.from_user.id, choice)
    if rating is Rating.NOT_YOURS:
        await query.answer(text("feedback_not_yours", language), show_alert=True)
    elif rating is Rating.ALREADY:
        await query.answer(text("feedback_already", language))
    return (query, choice, svc, language) if rating is Rating.STORED else None


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
