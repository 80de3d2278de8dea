"""Where a photo enters in a private chat: check the sender's rate limit, download the photo and hand it
to the worker (`private_photo`); `bot.suggest` replies once its result is in, in whichever bot process reads
it.

Every photo gets exactly one reply: a suggestion, an honest "no popular tag fits", a phrased
image error, "busy", "timed out" or "slow down". Photos in groups go to `moderation` instead.
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from telegram import Message, Update
from telegram.constants import ChatAction
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot import metrics
from bot.attachments import attachment_of, download
from bot.i18n import text
from bot.jobs import Accepted, Busy, Duplicate, pending_answer
from bot.replies import error_text
from bot.services import Services, services
from storage import repository
from worker.contract import ErrorCode

logger = logging.getLogger(__name__)


async def private_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Accept a photo (or image file) sent in a private chat; its answer comes through `bot.answers`."""
    message, user = update.effective_message, update.effective_user
    largest = attachment_of(message) if message else None  # the photo's identity in stored rows
    if message is None or user is None or largest is None:
        return
    metrics.count_received("private")
    svc = services(context)
    attachment = attachment_of(message, await svc.model_input_side())  # what the model needs
    language = svc.language(user.language_code)
    try:
        # The update id makes a redelivered update count once.
        wait_s = await svc.rate_limiter.check(user.id, str(update.update_id))
    except RedisError as error:
        logger.warning("photo from %s: rate limit unavailable: %s", user.id, error)
        metrics.count_unanswered("private", "busy")
        await message.reply_text(text("busy", language))
        return
    if wait_s > 0:
        metrics.count_unanswered("private", "rate_limited")
        await message.reply_text(text("rate_limited", language, seconds=max(1, round(wait_s))))
        return
    await count_photo(svc, message)
    if attachment.file_size and attachment.file_size > svc.settings.max_image_bytes:
        metrics.count_unanswered("private", "bad_image")
        await message.reply_text(error_text(ErrorCode.TOO_LARGE, language))
        return
    try:
        image = await download(attachment)
    except TelegramError as error:  # e.g. "file is too big" past getFile's limit
        logger.warning("could not download a photo in chat %s: %s", message.chat_id, error)
        too_big = "too big" in str(error)
        metrics.count_unanswered("private", "bad_image" if too_big else "failed")
        await message.reply_text(error_text(ErrorCode.TOO_LARGE if too_big else None, language))
        return
    pending = pending_answer(
        update.update_id, message, largest, "private", svc.settings.reply_timeout_seconds
    )
    submitted = await svc.jobs.submit(image, pending)
    match submitted:
        case Accepted():
            # Shown once (Telegram keeps it ~5 s): refreshing it per waiting photo would cost a Bot API
            # call every few seconds for each of thousands of photos in flight.
            try:
                await message.reply_chat_action(ChatAction.TYPING)
            except TelegramError as error:  # cosmetic: never let it cost the reply
                logger.debug("chat action failed: %s", error)
        case Busy(reason=reason):
            logger.warning("photo from %s: busy (%s)", user.id, reason)
            metrics.count_unanswered("private", "busy")
            await message.reply_text(text("busy", language))
        case Duplicate():  # Telegram delivered it again: the first delivery gets the answer
            logger.info("photo update %s was accepted before", update.update_id)


async def count_photo(svc: Services, message: Message) -> None:
    try:
        async with svc.sessions.begin() as session:
            # The chat's row is read only on its first photo, to create it: one query less per photo.
            if not await repository.count_photo(session, message.chat_id):
                await svc.chat_row(session, message.chat)
                await repository.count_photo(session, message.chat_id)
    except SQLAlchemyError:  # statistics only: the user still gets an answer
        logger.exception("could not count a photo in chat %s", message.chat_id)


async def private_other_file(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A file that is not an image: say what the bot can read."""
    message, user = update.effective_message, update.effective_user
    if message is None:
        return
    language = services(context).language(user.language_code if user else None)
    await message.reply_text(text("not_an_image_file", language))
