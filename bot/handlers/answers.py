"""Where a classified photo is answered: `bot.answers` calls `deliver` with a `PendingAnswer` and its
outcome, in whichever bot process read the result. The photo's message is rebuilt from the record."""

from __future__ import annotations

import logging
import time

from sqlalchemy.exc import SQLAlchemyError
from telegram import Message
from telegram.error import TelegramError
from telegram.ext import Application

from bot import metrics
from bot.i18n import text
from bot.moderate import answer_group_photo
from bot.pending import PendingAnswer
from bot.services import SERVICES_KEY, Services
from bot.suggest import answer_private_photo
from worker.queue import Outcome

logger = logging.getLogger(__name__)


async def deliver(application: Application, pending: PendingAnswer, outcome: Outcome) -> None:  # type: ignore[type-arg]
    """Answer one photo; failures are logged (the answer is attempted once, never retried into a loop)."""
    svc: Services = application.bot_data[SERVICES_KEY]
    message = Message.de_json(pending.message, application.bot)
    try:
        if pending.kind == "private":
            await answer_private_photo(svc, message, pending, outcome)
        else:
            await answer_group_photo(svc, message, outcome, pending.picture_hash)
    except TelegramError as error:  # e.g. the user blocked the bot meanwhile
        logger.warning("could not answer photo %s in chat %s: %s", pending.job_id, message.chat_id, error)
    except SQLAlchemyError:  # never silent: logged with the traceback and counted
        logger.exception("database failed answering photo %s in chat %s", pending.job_id, message.chat_id)
        metrics.count_database_error(pending.kind)
        if pending.kind == "private":  # groups stay quiet
            await _tell_internal_error(svc, message)
    metrics.count_answered(pending.kind, outcome, time.time() - pending.accepted_at)


async def _tell_internal_error(svc: Services, message: Message) -> None:
    language = svc.language(message.from_user.language_code if message.from_user else None)
    try:
        await message.reply_text(text("error_internal", language))
    except TelegramError as error:
        logger.warning("could not tell the user about the error: %s", error)
