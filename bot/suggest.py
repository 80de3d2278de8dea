"""The reply to a private photo once its result is in (`answer_private_photo`, called by `bot.answers` in
any bot process): the suggestion, stored so that its 👍/👎 can be recorded (`reply_suggestion`), a phrased
image error, or "timed out"."""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError
from telegram import Message

from bot.attachments import kept_file_id
from bot.callbacks import feedback_keyboard
from bot.i18n import Language, text
from bot.pending import PendingAnswer
from bot.replies import error_text, suggestion_text
from bot.services import Services
from storage import repository
from worker.contract import ClassifyResult
from worker.queue import Classified, Failed, Outcome, TimedOut

logger = logging.getLogger(__name__)


async def answer_private_photo(
    svc: Services, message: Message, pending: PendingAnswer, outcome: Outcome
) -> None:
    """Reply to an accepted private photo with its outcome (called by `bot.answers`, in any bot process)."""
    user_id = message.from_user.id if message.from_user else message.chat_id
    language = svc.message_language(message)
    match outcome:
        case Classified(result=result, latency_ms=latency_ms) if result.ok:
            await reply_suggestion(
                svc,
                message,
                file_unique_id=pending.file_unique_id,
                result=result,
                latency_ms=latency_ms,
                language=language,
            )
        case Classified(result=result):
            logger.info("photo %s: %s (%s)", result.request_id, result.error, result.error_detail)
            await message.reply_text(error_text(result.error, language))
        case TimedOut(waited_s=waited_s):
            logger.warning("photo from %s: no result after %.1f s", user_id, waited_s)
            await message.reply_text(text("timeout", language))
        case Failed(reason=reason):
            logger.error("photo from %s: job failed: %s", user_id, reason)
            await message.reply_text(error_text(None, language))


async def reply_suggestion(
    svc: Services,
    message: Message,
    *,
    file_unique_id: str,
    result: ClassifyResult,
    latency_ms: float,
    language: Language,
) -> None:
    """Store the suggestion and reply with it, with 👍/👎 when it was stored (feedback needs the row)."""
    suggestion_id: int | None = None
    try:
        async with svc.sessions.begin() as session:
            chat = await svc.chat_row(session, message.chat)
            suggestion_id = await repository.add_suggestion(
                session,
                chat_id=message.chat_id,
                user_id=message.from_user.id if message.from_user else 0,
                file_unique_id=file_unique_id,
                tag=result.suggested,
                confidence=result.confidence,
                model_version=result.model_version,
                latency_ms=latency_ms,
                file_id=kept_file_id(chat, message),
                offered=[(offered.tag, offered.probability) for offered in result.suggestions],
            )
    except SQLAlchemyError:
        logger.exception("could not store a suggestion in chat %s", message.chat_id)
    reply = suggestion_text(result, language, svc.settings.suggest_runner_up_margin)
    keyboard = feedback_keyboard(suggestion_id) if suggestion_id is not None and result.suggested else None
    await message.reply_text(reply, reply_markup=keyboard)
