"""Judging a group photo and acting on it: `single_photo` acts at once on a known spam picture or hands the
photo to the worker when its caption is to be judged; `answer_group_photo` judges a classified photo's caption
(moderation.verdict) when its result comes back (called by `bot.answers`, in any bot process); `act` records
the flag, then deletes the photo or flags it and posts the notice; `record_spam` records an admin's "spam".
What decides whether a photo is classified at all is here too: `trusted_member`, `hash_of` (its perceptual
hash, for the blocklist) and `flooded`.

Quiet by design: nothing is posted in a group unless a flag or delete notice is due; a busy
worker or a bad image is only logged there.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot, Message
from telegram.error import TelegramError

from bot import metrics
from bot.admins import is_admin_message, member_id, sender_id
from bot.albums import AlbumPhoto
from bot.attachments import attachment_of, download, kept_file_id
from bot.callbacks import verdict_keyboard
from bot.i18n import Language, text
from bot.jobs import Busy, pending_answer
from bot.replies import known_spam_text, mismatch_text
from bot.services import Services, moderation_settings
from moderation.blocklist import Entry, Match, NotAPicture, closest_match, picture_hash
from moderation.hashtags import extract_hashtags
from moderation.trust import is_trusted
from moderation.verdict import (
    Action,
    ModerationMode,
    ModerationSettings,
    Reason,
    Verdict,
    judge,
    known_spam,
    precheck,
)
from storage import repository
from storage.models import Chat, Flag, SpamPicture
from worker.contract import ClassifyResult
from worker.queue import Classified, Outcome

logger = logging.getLogger(__name__)


async def hash_of(photo: bytes, message: Message) -> str | None:
    """The photo's perceptual hash; None (logged) for bytes that are no picture, which the worker then
    answers as a bad image when the photo is classified."""
    try:
        return await asyncio.to_thread(picture_hash, photo)
    except NotAPicture as error:
        logger.warning("group photo %s/%s not hashed: %s", message.chat_id, message.message_id, error)
        return None


async def flooded(svc: Services, post_key: str, message: Message, settings: ModerationSettings) -> bool:
    """Whether the post (`post_key` counts it once: its update id, an album's key) is over a flood limit
    (then counted and logged, not classified; the first such post of the chat's window gets a notice, except
    in dry-run mode, which posts nothing)."""
    try:
        over = await svc.group_flood.check(message.chat_id, sender_id(message), post_key)
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
        language = svc.message_language(message)
        try:
            await message.reply_text(text("group_flooded", language))
        except TelegramError as error:
            logger.warning("flood notice not sent in chat %s: %s", message.chat_id, error)
    return True


async def single_photo(
    svc: Services,
    bot: Bot,
    message: Message,
    update_id: int,
    *,
    settings: ModerationSettings,
    blocked: list[Entry],
) -> None:
    """Act on a photo at once if it is a known spam picture, else, when its caption has hashtags, hand it to
    the worker (`answer_group_photo` judges it once the result is in)."""
    # Cheap checks first: most photos need neither the admin list nor the model, nor a download.
    judged = precheck(extract_hashtags(message.caption or ""), settings) is None
    exempt = (judged or blocked) and await is_admin_message(bot, svc.admins, message)
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
    if await flooded(svc, str(update_id), message, settings):
        return
    timeout_s = svc.settings.reply_timeout_seconds
    largest = attachment_of(message)  # the photo's identity in stored rows
    assert largest is not None
    pending = pending_answer(update_id, message, largest, "group", timeout_s, picture_hash=picture)
    submitted = await svc.jobs.submit(photo, pending)
    if isinstance(submitted, Busy):
        metrics.count_unanswered("group", "busy")
        logger.warning("group photo %s/%s not classified: %s", message.chat_id, message.message_id, submitted)


async def answer_group_photo(
    svc: Services, message: Message, outcome: Outcome, picture: str | None = None
) -> None:
    """Judge a group photo with its classification (called by `bot.answers`, in any bot process). The
    chat's settings are read now, so an admin's change made while the photo waited applies. `picture`:
    its perceptual hash, recorded with a flag."""
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
        await act(svc, message, verdict, result, picture_hash=picture)


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


async def act(
    svc: Services,
    message: Message,
    verdict: Verdict,
    result: ClassifyResult | None = None,
    *,
    picture_hash: str | None = None,
    match: Match | None = None,
    album: Sequence[AlbumPhoto] = (),
) -> None:
    """Record, delete (falling back to a flag when the bot may not delete), and post the notice. `result`:
    the classification a caption was judged by; `match`: the blocklist entry a known spam picture matched;
    `album`: the photos of the album `message` belongs to, which the verdict covers (one notice for all).

    The flag is recorded before the photo is deleted: a process that dies in between leaves a record
    (and with it the admins' "not spam") rather than a photo gone without a trace. A database that fails
    here raises before anything is deleted.
    """
    language = svc.message_language(message)
    async with svc.sessions.begin() as session:
        flag_id = await add_flag_row(
            svc, session, message, verdict, result, picture_hash=picture_hash, match=match, album=album
        )
    action = verdict.action
    if action is Action.DELETE:
        try:
            message_ids = [p.message_id for p in album] or [message.message_id]
            await delete_photos(message.get_bot(), message.chat_id, message_ids)
        except TelegramError as error:
            logger.warning(
                "cannot delete %s, flagging instead: %s", message.link or message.message_id, error
            )
            action = Action.FLAG
            async with svc.sessions.begin() as session:
                await repository.set_flag_action(session, flag_id, action.value)
    metrics.count_flag(action.value)
    keyboard = verdict_keyboard(flag_id, language)
    photos = max(1, len(album))
    if action is Action.FLAG:
        notice = notice_text(verdict, result, None, language, photos)
        await message.reply_text(notice, reply_markup=keyboard)
    elif action is Action.DELETE:
        notice = notice_text(verdict, result, poster_html(message), language, photos)
        await message.chat.send_message(notice, reply_markup=keyboard, parse_mode="HTML")


async def delete_photos(bot: Bot, chat_id: int, message_ids: Sequence[int]) -> bool:
    """Delete a post's photos: an album's in one call (deleteMessages), a single photo with deleteMessage."""
    if len(message_ids) > 1:
        return await bot.delete_messages(chat_id, message_ids)
    return await bot.delete_message(chat_id, message_ids[0])


def notice_text(
    verdict: Verdict, result: ClassifyResult | None, poster: str | None, language: Language, photos: int = 1
) -> str:
    """The notice for a verdict that acts: a flag's reply (`poster` None) or the delete notice naming the
    poster (HTML); on an album of `photos`."""
    if verdict.reason is Reason.KNOWN_SPAM_PICTURE or result is None:
        return known_spam_text(poster, language, photos)
    shown = (result.hashtag or "", result.confidence, verdict.scene_hashtags)
    compatible = verdict.compatible_probability or 0.0  # always set on a caption verdict that acts
    return mismatch_text(poster, *shown, compatible=compatible, language=language, photos=photos)


def poster_html(message: Message) -> str:
    """Who posted the photo, for the delete notice: the user, or the channel it was sent as (its `from` is
    then Telegram's Channel_Bot)."""
    if message.sender_chat is not None:
        return html.escape(message.sender_chat.effective_name or "")
    return message.from_user.mention_html() if message.from_user else ""


async def add_flag_row(
    svc: Services,
    session: AsyncSession,
    message: Message,
    verdict: Verdict,
    result: ClassifyResult | None,
    *,
    picture_hash: str | None,
    match: Match | None = None,
    album: Sequence[AlbumPhoto] = (),
) -> int:
    """The photo's flag row, its id (the verdict buttons carry it): the verdict, the classification it was
    judged by (None: no model judged it), the blocklist entry a known spam picture matched (counted as a hit
    on it), and, for an album, its media group and every photo."""
    attachment = attachment_of(message)
    chat = await svc.chat_row(session, message.chat)
    if match is not None:
        await repository.count_hit(session, match.entry.id)
    return await repository.add_flag(
        session,
        chat_id=message.chat_id,
        message_id=message.message_id,
        user_id=member_id(message),
        caption_tags=verdict.scene_hashtags,
        predicted_tag=(result.hashtag or "") if result else "",
        confidence=result.confidence if result else 0.0,
        compatible_probability=verdict.compatible_probability,
        action=verdict.action.value,
        model_version=result.model_version if result else None,
        caption_scene_tags=verdict.compatible_tags,
        file_unique_id=attachment.file_unique_id if attachment else None,
        file_id=kept_file_id(chat, message),
        reason=verdict.reason.value,
        picture_hash=picture_hash,
        media_group_id=message.media_group_id if album else None,
        album_photos=[repository.AlbumPhoto(p.message_id, p.picture_hash) for p in album],
        matched_entry_id=match.entry.id if match else None,
    )


@dataclass(frozen=True)
class SpamRecorded:
    """What an admin's "spam" did: the flag, the blocklist entry (None: the picture could not be hashed)
    and whether the photo was deleted."""

    flag: Flag
    entry: SpamPicture | None
    deleted: bool


async def record_spam(
    svc: Services, bot: Bot, chat_id: int, flag_id: int, *, admin_id: int, picture: str | None = None
) -> SpamRecorded | None:
    """Record an admin's "spam" on a flag, put its picture (`picture` when the flag has none) on the chat's
    blocklist and, in delete mode, delete the photo (a photo the bot deleted already stays deleted; a
    delete the bot may not do is logged). None when the chat has no such flag."""
    async with svc.sessions.begin() as session:
        marked = await repository.mark_spam(session, flag_id, chat_id, admin_id, picture_hash=picture)
        if marked is None:
            return None
        flag, entry = marked
        chat = await session.get(Chat, chat_id)  # the flag's chat: it exists
        mode = moderation_settings(chat).mode if chat else ModerationMode.FLAG
    deleted = flag.action == Action.DELETE.value
    if mode is ModerationMode.DELETE and not deleted:
        try:
            deleted = await delete_photos(bot, chat_id, flag.message_ids)
        except TelegramError as error:  # gone already, or the bot may not delete
            logger.warning("spam %s/%s not deleted: %s", chat_id, flag.message_id, error)
    metrics.count_feedback("spam")
    blocked = entry.id if entry else None
    logger.info(
        "flag %s in chat %s marked spam by %s (blocklist entry %s)", flag.id, chat_id, admin_id, blocked
    )
    return SpamRecorded(flag, entry, deleted)
