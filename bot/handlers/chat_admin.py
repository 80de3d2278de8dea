"""Admin commands in groups: /moderation on|off, /settings (inline keyboard) and /stats; in a private chat
/settings holds the user's opt-in to keeping photo ids."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot.admins import admin_in_group, chat_admin_ids, member_id, sender_id
from bot.callbacks import (
    SettingsChoice,
    apply_settings_choice,
    keep_photo_ids_choice,
    parse_settings,
    private_settings_keyboard,
    settings_keyboard,
)
from bot.charts import stats_chart
from bot.i18n import Language, text
from bot.replies import keep_photo_ids_text, moderation_text, weekly_text
from bot.services import Services, moderation_settings, services, store_moderation_settings
from moderation.verdict import ModerationSettings
from storage import repository
from storage.models import Chat

logger = logging.getLogger(__name__)


async def _change(svc: Services, message: Message, choice: SettingsChoice | None) -> Chat:
    """The chat's row after applying `choice` (None: just read it), in one transaction."""
    async with svc.sessions.begin() as session:
        chat = await svc.chat_row(session, message.chat)
        if choice is None:
            return chat
        keep = keep_photo_ids_choice(choice)
        if keep is None:
            store_moderation_settings(chat, apply_settings_choice(moderation_settings(chat), choice))
        elif keep != chat.keep_photo_ids:
            await repository.set_keep_photo_ids(session, chat, keep)
        return chat


def _state(chat: Chat) -> tuple[ModerationSettings | None, bool]:
    """What /settings shows: moderation (groups only) and the opt-in to keeping photo ids."""
    group = chat.type != ChatType.PRIVATE
    return (moderation_settings(chat) if group else None), chat.keep_photo_ids


def _panel(chat: Chat, language: Language) -> tuple[str, InlineKeyboardMarkup]:
    """/settings' text and keyboard: a private chat has only the photo-ids opt-in."""
    settings, keep = _state(chat)
    keep_text = keep_photo_ids_text(keep, language)
    if settings is None:
        return keep_text, private_settings_keyboard(keep, language)
    return (
        f"{moderation_text(settings, language)}\n\n{keep_text}",
        settings_keyboard(settings, keep, language),
    )


async def _show(message: Message, chat: Chat, language: Language) -> None:
    panel, keyboard = _panel(chat, language)
    await message.reply_text(panel, reply_markup=keyboard)


async def moderation(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/moderation on|off: switch hashtag-spam flagging for this group (admins only)."""
    message = update.effective_message
    svc = services(context)
    if message is None:
        return
    language = svc.message_language(message)
    if not await admin_in_group(context.bot, svc.admins, message, language):
        return
    args = [arg.lower() for arg in context.args or []]
    if args not in (["on"], ["off"]):
        usage = text("moderation_usage", language)
        current = moderation_settings(await _change(svc, message, None))
        await message.reply_text(f"{usage}\n\n{moderation_text(current, language)}")
        return
    await _show(message, await _change(svc, message, SettingsChoice("enabled", args[0])), language)


async def settings(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/settings: in a group, its moderation settings and the photo-ids opt-in with buttons to change them
    (admins only); in a private chat, the user's photo-ids opt-in."""
    message = update.effective_message
    svc = services(context)
    if message is None:
        return
    language = svc.message_language(message)
    in_group = message.chat.type != ChatType.PRIVATE
    if in_group and not await admin_in_group(context.bot, svc.admins, message, language):
        return
    await _show(message, await _change(svc, message, None), language)


async def _may_change(
    context: ContextTypes.DEFAULT_TYPE, svc: Services, user_id: int, message: Message
) -> bool:
    """The user of a private chat, or an admin of the group."""
    if message.chat.type == ChatType.PRIVATE:
        return user_id == message.chat_id
    return user_id in await chat_admin_ids(context.bot, svc.admins, message.chat_id)


async def settings_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A press on the /settings keyboard: admins (or the private chat's user) change the setting, others get
    an alert."""
    query = update.callback_query
    choice = parse_settings(query.data if query else None)
    if query is None or choice is None or not isinstance(query.message, Message):
        return
    svc = services(context)
    language = svc.language(query.from_user.language_code)
    message = query.message
    if not await _may_change(context, svc, query.from_user.id, message):
        await query.answer(text("admin_only", language), show_alert=True)
        return
    before = _state(await _change(svc, message, None))
    saved = await _change(svc, message, choice)
    if _state(saved) == before:  # a value label, or a bound already reached
        await query.answer()
        return
    await query.answer(text("settings_saved", language))
    panel, keyboard = _panel(saved, language)
    try:
        await query.edit_message_text(panel, reply_markup=keyboard)
    except BadRequest as error:  # "message is not modified" after a double press
        logger.debug("settings message not edited: %s", error)


async def trust(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/trust, as a reply to a member's message: their photos are no longer judged (admins only)."""
    await _approve(update, context, trusted=True)


async def untrust(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/untrust, as a reply to a member's message: judge their photos again, clean posts counted from 0."""
    await _approve(update, context, trusted=False)


async def _approve(update: Update, context: ContextTypes.DEFAULT_TYPE, *, trusted: bool) -> None:
    message = update.effective_message
    svc = services(context)
    if message is None:
        return
    language = svc.message_language(message)
    if not await admin_in_group(context.bot, svc.admins, message, language):
        return
    target = message.reply_to_message
    user_id = member_id(target) if target is not None else None
    if target is None or user_id is None or (target.from_user is not None and target.from_user.is_bot):
        await message.reply_text(text("trust_usage", language))
        return
    async with svc.sessions.begin() as session:
        await svc.chat_row(session, message.chat)  # the members row needs its chat's
        approver = sender_id(message) if trusted else None
        await repository.set_approval(session, message.chat_id, user_id, approver)
    name = target.from_user.mention_html() if target.from_user else ""
    reply = text("trusted" if trusted else "untrusted", language, name=name)
    await message.reply_text(reply, parse_mode="HTML")


async def stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/stats: a chart of the last days with the chat's numbers and its moderation weeks as its caption
    (admins only)."""
    message = update.effective_message
    svc = services(context)
    if message is None:
        return
    language = svc.message_language(message)
    if not await admin_in_group(context.bot, svc.admins, message, language):
        return
    async with svc.sessions.begin() as session:
        numbers = await repository.chat_stats(session, message.chat_id)
        today = datetime.now(UTC).date()
        daily = await repository.chat_daily_stats(session, message.chat_id, today=today)
        weekly = await repository.chat_weekly_stats(session, message.chat_id, today=today)
    numbers_text = text(
        "stats",
        language,
        photos=numbers.photos,
        suggestions=numbers.suggestions,
        flags=numbers.flags,
        false_positives=numbers.false_positives,
    )
    caption = f"{numbers_text}\n\n{weekly_text(weekly, language)}"
    chart = _drawn_chart(daily, language)
    if chart is not None:
        try:
            await message.reply_photo(chart, caption=caption)
            return
        except BadRequest as error:  # Telegram refused the picture: the numbers still go out
            logger.warning("stats chart not sent in chat %s: %s", message.chat_id, error)
    await message.reply_text(caption)


def _drawn_chart(daily: list[repository.DayStats], language: Language) -> bytes | None:
    try:
        return stats_chart(daily, language)
    except Exception:  # the chart only pictures the caption's numbers: failing to draw it must not cost them
        logger.exception("could not draw the stats chart")
        return None
