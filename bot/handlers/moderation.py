"""The group's callbacks: a photo (`group_photo`), an admin's verdict button under a notice
(`verdict_button`) and `/spam` in reply to a photo (`spam_command`).

A group photo is counted; when moderation is on, a photo matching a known spam picture (the chat's
blocklist or the global one, `moderation.blocklist`) is acted on at once, whatever its caption says, without
the worker: the bot hashes the photo it downloaded. Else a caption with hashtags hands the photo to the
worker, and `bot.moderate` judges it once the result is in, in whichever bot process reads it. An admin's
verdict on a notice ("not spam", "🚫 Spam") or `/spam` is recorded on the photo's flag; "spam" puts the
picture on the chat's blocklist and, in delete mode, deletes the photo.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ContextTypes

from bot import metrics
from bot.admins import admin_in_group, chat_admin_ids, sender_id
from bot.attachments import attachment_of, download
from bot.callbacks import parse_verdict
from bot.i18n import Language, text
from bot.moderate import add_flag_row, hash_of, record_spam, single_photo
from bot.moderate_album import album_photo
from bot.services import moderation_settings, services
from moderation.blocklist import Entry
from moderation.verdict import Action, Reason, Verdict
from storage import repository

logger = logging.getLogger(__name__)


async def group_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Count a group photo; when moderation is on, a photo of an album goes to its album (bot.moderate_album
    judges the album as one post), and a single photo is checked (`single_photo`)."""
    message = update.effective_message
    attachment = attachment_of(message) if message else None
    if message is None or attachment is None:
        return
    metrics.count_received("group")  # every group photo, moderated or not
    svc = services(context)
    async with svc.sessions.begin() as session:
        chat = await svc.chat_row(session, message.chat)
        await repository.count_photo(session, message.chat_id)
        settings = moderation_settings(chat)
        rows = await repository.blocklist(session, message.chat_id) if settings.enabled else ()
        blocked = [Entry(row.id, row.hash) for row in rows]
    if settings.enabled and message.media_group_id and update.message is not None:
        await album_photo(svc, context.bot, message, update.update_id, settings=settings, blocked=blocked)
    else:  # an edited caption is judged alone, even in an album
        await single_photo(svc, context.bot, message, update.update_id, settings=settings, blocked=blocked)


async def verdict_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An admin's "not spam" or "🚫 Spam" under a notice. "Not spam" records the false positive (a deleted
    photo stays deleted); "spam" blocks the picture and, in delete mode, deletes the photo."""
    query = update.callback_query
    choice = parse_verdict(query.data if query else None)
    if query is None or choice is None or query.message is None:
        return
    svc = services(context)
    language: Language = svc.language(query.from_user.language_code)
    chat_id = query.message.chat.id
    admin_ids = await chat_admin_ids(context.bot, svc.admins, chat_id)
    if query.from_user.id not in admin_ids:
        await query.answer(text("admin_only", language), show_alert=True)
        return
    if choice.verdict == repository.NOT_SPAM:
        async with svc.sessions.begin() as session:
            await repository.record_verdict(
                session, choice.flag_id, chat_id, query.from_user.id, choice.verdict
            )
        metrics.count_feedback("not_spam")
        await query.answer(text("not_spam_recorded", language))
    else:
        recorded = await record_spam(svc, context.bot, chat_id, choice.flag_id, admin_id=query.from_user.id)
        blocked = recorded is not None and recorded.entry is not None
        await query.answer(text("spam_recorded" if blocked else "spam_recorded_unhashed", language))
    await query.edit_message_reply_markup(reply_markup=None)


async def spam_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/spam` in reply to a group photo, from an admin: the photo's flag (a new one, action `admin`, when
    the bot let it pass) records the verdict and the picture is blocked, as the button does."""
    message = update.effective_message
    if message is None:
        return
    svc = services(context)
    language = svc.message_language(message)
    if not await admin_in_group(context.bot, svc.admins, message, language):
        return
    target = message.reply_to_message
    attachment = attachment_of(target, await svc.model_input_side()) if target else None
    if target is None or attachment is None:
        await message.reply_text(text("spam_usage", language))
        return
    too_large = (attachment.file_size or 0) > svc.settings.max_image_bytes
    picture = None if too_large else await hash_of(await download(attachment), target)
    admin_id = sender_id(message)
    async with svc.sessions.begin() as session:
        flag = await repository.flag_of_message(
            session, target.chat_id, target.message_id, target.media_group_id
        )
        flag_id = (
            flag.id
            if flag is not None
            else await add_flag_row(
                svc, session, target, Verdict(Action.ADMIN, Reason.ADMIN_SPAM), None, picture_hash=picture
            )
        )
    recorded = await record_spam(
        svc, context.bot, target.chat_id, flag_id, admin_id=admin_id, picture=picture
    )
    if recorded is not None and recorded.entry is not None:
        answer = "spam_recorded"
    else:
        answer = "spam_too_large" if too_large else "spam_recorded_unhashed"
    await message.reply_text(text(answer, language))
