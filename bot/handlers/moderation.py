"""Group photos with hashtag captions: classify, judge (moderation.verdict), and flag, delete or record.

The photo is handed to the worker here (`group_photo`); the judging happens when its result comes
back, in whichever bot process reads it (`answer_group_photo`, called by `bot.answers`).

Quiet by design: nothing is posted in a group unless a flag or delete notice is due; a busy
worker or a bad image is only logged there.
"""

from __future__ import annotations

import html
import logging

from redis.exceptions import RedisError
from telegram import Message, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot import metrics
from bot.admins import chat_admin_ids, is_admin_message, member_id, sender_id
from bot.callbacks import not_spam_keyboard, parse_not_spam
from bot.classify import Busy
from bot.handlers.photos import attachment_of, download, kept_file_id, pending_answer
from bot.i18n import Language, text
from bot.replies import delete_text, flag_text
from bot.services import Services, moderation_settings, services
from moderation.hashtags import extract_hashtags
from moderation.trust import is_trusted
from moderation.verdict import (
    Action,
    ModerationMode,
    ModerationSettings,
    Reason,
    Verdict,
    judge,
    precheck,
)
from storage import repository
from worker.contract import ClassifyResult
from worker.queue import Classified, Outcome

logger = logging.getLogger(__name__)


async def group_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Count a group photo; when moderation is on and its caption has hashtags, hand it to the worker
    (`answer_group_photo` judges it once the result is in)."""
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
    # Cheap checks first: most photos need neither the admin list nor the model.
    if precheck(hashtags, settings) is not None:
        metrics.count_unanswered("group", "skipped")
        return
    if await is_admin_message(context.bot, svc.admins, message):
        metrics.count_unanswered("group", "skipped")
        return
    if await trusted_member(svc, message):
        metrics.count_unanswered("group", "skipped")
        return
    needed = attachment_of(message, await svc.model_input_side())  # the copy the model needs
    if (needed.file_size or 0) > svc.settings.max_image_bytes:
        metrics.count_unanswered("group", "bad_image")
        return
    if await flooded(svc, update, message, settings):
        return
    pending = pending_answer(svc, update, message, attachment, "group")
    submitted = await svc.classifier.submit(await download(needed), pending)
    if isinstance(submitted, Busy):
        metrics.count_unanswered("group", "busy")
        logger.warning("group photo %s/%s not classified: %s", message.chat_id, message.message_id, submitted)


async def flooded(svc: Services, update: Update, message: Message, settings: ModerationSettings) -> bool:
    """Whether the photo is over a flood limit (then counted and logged, not classified; the first such
    photo of the chat's window gets a notice, except in dry-run mode, which posts nothing)."""
    try:
        over = await svc.group_flood.check(message.chat_id, sender_id(message), str(update.update_id))
    except RedisError as error:  # Redis is down: the queue is too; submitting would answer busy as well
        logger.warning(
            "group photo %s/%s: flood control unavailable: %s", message.chat_id, message.message_id, error
        )
        metrics.count_unanswered("group", "busy")
        return True
    if over is None:
        return False
    metrics.count_unanswered("group", "rate_limited")
    logger.warning(
        "group photo %s/%s from %s not classified: over the per-%s limit for %.0f s",
        message.chat_id,
        message.message_id,
        sender_id(message),
        over.limit,
        over.wait_s,
    )
    if over.notice and settings.mode is not ModerationMode.DRY_RUN:
        language = svc.language(message.from_user.language_code if message.from_user else None)
        try:
            await message.reply_text(text("group_flooded", language))
        except TelegramError as error:
            logger.warning("flood notice not sent in chat %s: %s", message.chat_id, error)
    return True


async def answer_group_photo(svc: Services, message: Message, outcome: Outcome) -> None:
    """Judge a group photo with its classification (called by `bot.answers`, in any bot process). The
    chat's settings are read now, so an admin's change made while the photo waited applies."""
    if not isinstance(outcome, Classified) or not outcome.result.ok:
        logger.warning("group photo %s/%s not classified: %s", message.chat_id, message.message_id, outcome)
        return
    hashtags = extract_hashtags(message.caption or "")
    async with svc.sessions.begin() as session:
        settings = moderation_settings(await svc.chat_row(session, message.chat))
    result = outcome.result
    verdict = judge(hashtags, svc.vocabulary.scene_tags, result.probabilities, settings)
    logger.info("group photo %s/%s: %s", message.chat_id, message.message_id, verdict)
    await record_member_post(svc, message, verdict)
    if verdict.action is not Action.NONE:
        await act(svc, message, verdict, result)


async def trusted_member(svc: Services, message: Message) -> bool:
    user_id = member_id(message)
    if user_id is None:
        return False
    async with svc.sessions() as session:
        standing = await repository.member_standing(session, message.chat_id, user_id)
    return is_trusted(standing.clean_posts, standing.approved, svc.settings.moderation_trust_after)


async def record_member_post(svc: Services, message: Message, verdict: Verdict) -> None:
    """A judged post counts towards its member's trust when compatible, and starts it again when it acts."""
    user_id = member_id(message)
    judged_clean = verdict.reason is Reason.COMPATIBLE
    if user_id is None or not (judged_clean or verdict.action is not Action.NONE):
        return
    async with svc.sessions.begin() as session:
        await repository.record_post(session, message.chat_id, user_id, clean=judged_clean)


async def act(svc: Services, message: Message, verdict: Verdict, result: ClassifyResult) -> None:
    """Record, delete (falling back to a flag when the bot may not delete), and post the notice.

    The flag is recorded before the photo is deleted: a process that dies in between leaves a record
    (and with it the admins' "not spam") rather than a photo gone without a trace. A database that fails
    here raises before anything is deleted.
    """
    language = svc.language(message.from_user.language_code if message.from_user else None)
    predicted = result.hashtag or ""
    compatible = verdict.compatible_probability or 0.0  # always set on a verdict that acts
    flag_id = await record_flag(svc, message, verdict, result)
    action = verdict.action
    if action is Action.DELETE:
        try:
            await message.delete()
        except TelegramError as error:
            logger.warning(
                "cannot delete %s, flagging instead: %s", message.link or message.message_id, error
            )
            action = Action.FLAG
            async with svc.sessions.begin() as session:
                await repository.set_flag_action(session, flag_id, action.value)
    metrics.count_flag(action.value)
    keyboard = not_spam_keyboard(flag_id, language)
    shown = (predicted, result.confidence, verdict.scene_hashtags)
    if action is Action.FLAG:
        notice = flag_text(*shown, compatible=compatible, language=language)
        await message.reply_text(notice, reply_markup=keyboard)
    elif action is Action.DELETE:
        notice = delete_text(poster_html(message), *shown, compatible=compatible, language=language)
        await message.chat.send_message(notice, reply_markup=keyboard, parse_mode="HTML")


def poster_html(message: Message) -> str:
    """Who posted the photo, for the delete notice: the user, or the channel it was sent as (its `from` is
    then Telegram's Channel_Bot)."""
    if message.sender_chat is not None:
        return html.escape(message.sender_chat.effective_name or "")
    return message.from_user.mention_html() if message.from_user else ""


async def record_flag(svc: Services, message: Message, verdict: Verdict, result: ClassifyResult) -> int:
    """Store the verdict's action on this photo; the flag's id (the "not spam" button carries it)."""
    attachment = attachment_of(message)
    async with svc.sessions.begin() as session:
        chat = await svc.chat_row(session, message.chat)
        return await repository.add_flag(
            session,
            chat_id=message.chat_id,
            message_id=message.message_id,
            user_id=member_id(message),
            caption_tags=verdict.scene_hashtags,
            predicted_tag=result.hashtag or "",
            confidence=result.confidence,
            compatible_probability=verdict.compatible_probability or 0.0,
            action=verdict.action.value,
            model_version=result.model_version,
            caption_scene_tags=verdict.compatible_tags,
            file_unique_id=attachment.file_unique_id if attachment else None,
            file_id=kept_file_id(chat, message),
        )


async def not_spam(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An admin's "not spam" on a flag: record the false positive (a deleted photo stays deleted)."""
    query = update.callback_query
    flag_id = parse_not_spam(query.data if query else None)
    if query is None or flag_id is None or query.message is None:
        return
    svc = services(context)
    language: Language = svc.language(query.from_user.language_code)
    chat_id = query.message.chat.id
    admin_ids = await chat_admin_ids(context.bot, svc.admins, chat_id)
    if query.from_user.id not in admin_ids:
        await query.answer(text("admin_only", language), show_alert=True)
        return
    async with svc.sessions.begin() as session:
        await repository.mark_not_spam(session, flag_id, chat_id, query.from_user.id)
    metrics.count_feedback("not_spam")
    await query.answer(text("not_spam_recorded", language))
    await query.edit_message_reply_markup(reply_markup=None)
