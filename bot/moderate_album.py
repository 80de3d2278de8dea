"""Where an album (a media group) in a moderated group is judged as one post, and acted on once.

Each photo of an album enters through the group photo handler, which hands it to `album_photo`: it is
recorded in Redis (bot.albums) and, in a chat with a blocklist, checked against it at once; one known spam
picture condemns the whole album. Once no photo of the album has arrived for the album wait, one bot process
takes it (`bot.albums.AlbumLoop` calls `settle_album`): the captions' hashtags are prechecked, and the
sender's standing (an admin, a trusted member, over a flood limit) is read once for the album; then every
photo goes to the worker. The result that completes the album (`album_photo_answered`, called by
`bot.answers` in whichever process reads it) judges it (`moderation.album.judge_album`); the verdict covers
every photo: one flag (on the captioned photo, naming them all), one notice, and in delete mode every photo
deleted. A photo arriving after its album was deleted is deleted too; one arriving after its album was let
pass that is a known spam picture is acted on alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from telegram import Bot, Message
from telegram.error import TelegramError
from telegram.ext import Application

from bot import metrics
from bot.admins import is_admin_message
from bot.albums import AlbumPhoto, AlbumResult, album_key
from bot.attachments import attachment_of, download
from bot.jobs import Busy, pending_answer
from bot.moderate import act, flooded, hash_of, record_member_post, trusted_member
from bot.pending import PendingAnswer
from bot.services import SERVICES_KEY, Services, moderation_settings
from moderation.album import album_hashtags, judge_album
from moderation.blocklist import Entry, closest_match
from moderation.verdict import Action, ModerationSettings, known_spam, precheck
from worker.queue import Classified, Outcome

logger = logging.getLogger(__name__)


async def album_photo(
    svc: Services,
    bot: Bot,
    message: Message,
    update_id: int,
    *,
    settings: ModerationSettings,
    blocked: list[Entry],
) -> None:
    """Record a photo of an album in a moderated chat (a known spam picture with its blocklist match: the
    album is then acted on as known spam when it settles); a photo that comes after its album was taken is
    acted on now: deleted with a deleted album, or, a known spam picture, acted on with whatever is left."""
    assert message.media_group_id is not None
    key = album_key(message.chat_id, message.media_group_id)
    picture = match = None
    if blocked and not await is_admin_message(bot, svc.admins, message):
        needed = attachment_of(message, await svc.model_input_side())
        if needed is not None and (needed.file_size or 0) <= svc.settings.max_image_bytes:
            picture = await hash_of(await download(needed), message)
            match = closest_match(picture, blocked) if picture is not None else None
    photo = AlbumPhoto(message=message.to_dict(), update_id=update_id, picture_hash=picture, match=match)
    state = await svc.albums.add(key, photo, time.time())
    if match is not None and state.taken:
        verdict = known_spam(settings)
        if await svc.albums.decide(key, verdict.action.value):  # still being classified: the whole album
            album = await svc.albums.photos(key)
            await act(svc, message, verdict, picture_hash=picture, match=match, album=album)
        else:  # its album was decided before this photo came: the photo alone
            await act(svc, message, verdict, picture_hash=picture, match=match)
        metrics.count_unanswered("group", "known_spam")
    elif state.verdict == Action.DELETE.value:
        await delete_late_photo(message)


async def delete_late_photo(message: Message) -> None:
    logger.info("album photo %s/%s came after its album was deleted", message.chat_id, message.message_id)
    try:
        await message.delete()
    except TelegramError as error:
        logger.warning("late album photo %s/%s not deleted: %s", message.chat_id, message.message_id, error)


@dataclass(frozen=True)
class AlbumPost:
    """An album as one post: its photos' messages, the one carrying its caption, and its hashtags."""

    messages: list[Message]
    lead: Message  # the captioned photo: what a flag and its notice refer to
    hashtags: list[str]


def album_post(photos: Sequence[AlbumPhoto], bot: Bot) -> AlbumPost:
    messages = [Message.de_json(photo.message, bot) for photo in photos]
    lead = next((message for message in messages if message.caption), messages[0])
    return AlbumPost(messages, lead, album_hashtags(m.caption for m in messages))


async def settle_album(application: Application, key: str) -> None:  # type: ignore[type-arg]
    """Judge an album whose photos have all arrived: nothing to judge (a caption without enough hashtags, an
    admin's or a trusted member's album, a flood) decides "none"; else every photo goes to the worker."""
    svc: Services = application.bot_data[SERVICES_KEY]
    photos = await svc.albums.photos(key)
    if not photos:  # expired meanwhile
        return
    post = album_post(photos, application.bot)
    async with svc.sessions.begin() as session:
        settings = moderation_settings(await svc.chat_row(session, post.lead.chat))
    bot = application.bot
    known = next(((p, m) for p, m in zip(photos, post.messages, strict=True) if p.match), None)
    if known is not None:  # whoever sent it, whatever the caption says
        await act_on_known_spam(svc, key, known, photos, settings)
        return
    judged = (
        precheck(post.hashtags, settings) is None
        and not await is_admin_message(bot, svc.admins, post.lead)
        and not await trusted_member(svc, post.lead)
    )
    if not judged:
        await svc.albums.decide(key, Action.NONE.value)
        for _ in photos:
            metrics.count_unanswered("group", "skipped")
        return
    if await flooded(svc, key, post.lead, settings):  # counted and logged there
        await svc.albums.decide(key, Action.NONE.value)
        return
    await svc.albums.expect(key, len(photos))
    for photo, message in zip(photos, post.messages, strict=True):
        if not await submit_album_photo(svc, key, photo, message):
            await answer_album_photo(svc, bot, key, message.message_id, AlbumResult(result=None))


async def act_on_known_spam(
    svc: Services,
    key: str,
    known: tuple[AlbumPhoto, Message],
    photos: Sequence[AlbumPhoto],
    settings: ModerationSettings,
) -> None:
    """An album holding a known spam picture: one flag on that photo, naming the album, and one notice."""
    photo, message = known
    verdict = known_spam(settings)  # "none" once moderation was switched off meanwhile
    if await svc.albums.decide(key, verdict.action.value) and verdict.action is not Action.NONE:
        await act(svc, message, verdict, picture_hash=photo.picture_hash, match=photo.match, album=photos)
    for _ in photos:
        metrics.count_unanswered("group", "known_spam")


async def submit_album_photo(svc: Services, key: str, photo: AlbumPhoto, message: Message) -> bool:
    """Send one photo of an album to the worker; False when it cannot go (too large, not downloadable, a
    busy worker): the album is judged by its other photos."""
    needed = attachment_of(message, await svc.model_input_side())
    if needed is None or (needed.file_size or 0) > svc.settings.max_image_bytes:
        metrics.count_unanswered("group", "bad_image")
        return False
    try:
        image = await download(needed)
    except TelegramError as error:
        logger.warning("album photo %s/%s not downloaded: %s", message.chat_id, message.message_id, error)
        metrics.count_unanswered("group", "failed")
        return False
    picture = photo.picture_hash or await hash_of(image, message)
    largest = attachment_of(message)
    assert largest is not None
    timeout_s = svc.settings.reply_timeout_seconds
    pending = pending_answer(
        photo.update_id, message, largest, "group", timeout_s, picture_hash=picture, album=key
    )
    submitted = await svc.jobs.submit(image, pending)
    if isinstance(submitted, Busy):
        logger.warning("album photo %s/%s not classified: %s", message.chat_id, message.message_id, submitted)
        metrics.count_unanswered("group", "busy")
    # Duplicate: a replica that took the album before (and died) recorded the photo; its result comes.
    return not isinstance(submitted, Busy)


async def album_photo_answered(svc: Services, bot: Bot, pending: PendingAnswer, outcome: Outcome) -> None:
    """A photo of an album came back from the worker (called by `bot.answers`, in any bot process)."""
    assert pending.album is not None
    classified = isinstance(outcome, Classified) and outcome.result.ok
    result = AlbumResult(result=outcome.result if classified else None, picture_hash=pending.picture_hash)
    await answer_album_photo(svc, bot, pending.album, int(pending.message["message_id"]), result)


async def answer_album_photo(svc: Services, bot: Bot, key: str, message_id: int, result: AlbumResult) -> None:
    """Record what came back for one photo; the last the album waited for judges the album."""
    if await svc.albums.add_result(key, message_id, result):
        await judge_whole_album(svc, bot, key)


async def judge_whole_album(svc: Services, bot: Bot, key: str) -> None:
    """Judge the album by every photo the worker classified, with the chat's settings as they are now, and
    act once on every photo recorded by then."""
    results = await svc.albums.results(key)
    post = album_post(await svc.albums.photos(key), bot)
    classified = [(message_id, came.result) for message_id, came in results.items() if came.result]
    if not classified:
        logger.warning("album %s: no photo classified, not judged", key)
        await svc.albums.decide(key, Action.NONE.value)
        return
    async with svc.sessions.begin() as session:
        settings = moderation_settings(await svc.chat_row(session, post.lead.chat))
    probabilities = [result.probabilities for _, result in classified]
    deciding, verdict = judge_album(post.hashtags, svc.vocabulary.scene_tags, probabilities, settings)
    logger.info("album %s (%d photos): %s", key, len(post.messages), verdict)
    await record_member_post(svc, post.lead, verdict)
    if not await svc.albums.decide(key, verdict.action.value) or verdict.action is Action.NONE:
        return  # decided already (a known spam picture among its photos), or nothing to do
    hashes = {message_id: came.picture_hash for message_id, came in results.items()}
    album = [
        photo.model_copy(update={"picture_hash": photo.picture_hash or hashes.get(photo.message_id)})
        for photo in await svc.albums.photos(key)  # a photo that arrived meanwhile is covered too
    ]
    lead_hash = next((p.picture_hash for p in album if p.message_id == post.lead.message_id), None)
    await act(svc, post.lead, verdict, classified[deciding][1], picture_hash=lead_hash, album=album)
