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
from bot.admins import admin_in_group, chat_admin_ids, is_admin_message, sender_id
from bot.attachments import attachment_of, download
from bot.callbacks import parse_verdict
from bot.i18n import Language, text
from bot.jobs import Busy, pending_answer
from bot.moderate import act, add_flag_row, flooded, hash_of, record_spam, trusted_member
from bot.services import moderation_settings, services
from moderation.blocklist import Entry, closest_match
from moderation.hashtags import extract_hashtags
from moderation.verdict import Action, Reason, Verdict, known_spam, precheck
from storage import repository

logger = logging.getLogger(__name__)


async def group_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Count a group photo; when moderation is on, act on it at once if it is a known spam picture, else,
    when its caption has hashtags, hand it to the worker (`answer_group_photo` judges it once the result
    is in)."""
    message = update.effective_message
    attachment = attachment_of(message) if message else None
    if message is None or attachment is None:
        return
    metrics.count_received("group")
    svc = services(context)
    hashtags = extract_hashtags(message.caption or "")
    async with svc.sessions.begin() as session:
        chat = await svc.chat_row(session, message.chat)
        await repository.count_photo(session, message.chat_id)
        settings = moderation_settings(chat)
        rows = await repository.blocklist(session, message.chat_id) if settings.enabled else ()
        blocked = [Entry(row.id, row.hash) for row in rows]
    # Cheap checks first: most photos need neither the admin list nor the model, nor a download.
    judged = precheck(hashtags, settings) is None
    exempt = (judged or blocked) and await is_admin_message(context.bot, svc.admins, message)
    # A trusted member's captions are not judged; their pictures still meet the blocklist (stolen accounts).
    judged = judged and not exempt and not await trusted_member(svc, message)
    if exempt or not (judged or blocked):
        metrics.count_unanswered("group", "skipped")
        return
    needed = attachment_of(message, await svc.model_input_side())  # the copy the model needs
    if (needed.file_size or 0) > svc.settings.max_image_bytes:
        metrics.count_unanswered("group", "bad_image")
        return
    photo = await download(needed)
    picture = await hash_of(photo, message)  # outside any transaction: CPU work in a thread
    match = closest_match(picture, blocked) if picture is not None else None
    if match is not None:
        await act(svc, message, known_spam(settings), picture_hash=picture, match=match)
        metrics.count_unanswered("group", "known_spam")
        return
    if not judged:
        metrics.count_unanswered("group", "skipped")
        return
    if await flooded(svc, update, message, settings):
        return
    pending = pending_answer(
        update, message, attachment, "group", svc.settings.reply_timeout_seconds, picture_hash=picture
    )
    submitted = await svc.jobs.submit(photo, pending)
    if isinstance(submitted, Busy):
        metrics.count_unanswered("group", "busy")
        logger.warning("group photo %s/%s not classified: %s", message.chat_id, message.message_id, submitted)


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
    language = svc.language(message.from_user.language_code if message.from_user else None)
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
        flag = await repository.flag_of_message(session, target.chat_id, target.message_id)
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
