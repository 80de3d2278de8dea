"""Who may administer a chat, and whose messages are never flagged.

Only three senders speak for a group: the group itself (an anonymous admin: `sender_chat` is the group),
its linked channel (Telegram's automatic forward of a channel post, or the channel whose id `getChat`
gives as the group's `linked_chat_id`) and its administrators (`getChatAdministrators`). Anyone may post
as a channel of their own, so a message sent as any other channel is a member's message.

Both Bot API answers are cached per chat in Redis for a TTL, so every bot replica shares one cache and
one invalidation: a chat-member update (received by whichever replica Telegram reached) deletes the
chat's entries for all of them. `admin_in_group` is the check in front of every group admin command: it
replies why not to anyone else.
"""

from __future__ import annotations

import json

from redis.asyncio import Redis
from telegram import Bot, Message
from telegram.constants import ChatType

from bot.i18n import Language, text

NO_LINKED_CHAT = 0  # cached for a group without a linked channel (chat ids are never 0)


def admins_key(chat_id: int) -> str:
    return f"scenetag:admins:{chat_id}"


def linked_chat_key(chat_id: int) -> str:
    return f"scenetag:linked-chat:{chat_id}"


class AdminCache:
    """chat id -> administrators' user ids and the linked channel's id, each entry fresh for `ttl_s`
    seconds (0: never cached)."""

    def __init__(self, redis: Redis, ttl_s: float) -> None:
        self._redis = redis
        self._ttl_ms = round(ttl_s * 1000)

    async def get(self, chat_id: int) -> frozenset[int] | None:
        raw = await self._redis.get(admins_key(chat_id))
        return None if raw is None else frozenset(json.loads(raw))

    async def put(self, chat_id: int, admin_ids: frozenset[int]) -> None:
        if self._ttl_ms > 0:
            await self._redis.set(admins_key(chat_id), json.dumps(sorted(admin_ids)), px=self._ttl_ms)

    async def get_linked_chat(self, chat_id: int) -> int | None:
        """The linked channel's id, NO_LINKED_CHAT when the group has none, None when not cached."""
        raw = await self._redis.get(linked_chat_key(chat_id))
        return None if raw is None else int(raw)

    async def put_linked_chat(self, chat_id: int, linked_chat_id: int) -> None:
        if self._ttl_ms > 0:
            await self._redis.set(linked_chat_key(chat_id), linked_chat_id, px=self._ttl_ms)

    async def invalidate(self, chat_id: int) -> None:
        await self._redis.delete(admins_key(chat_id), linked_chat_key(chat_id))


async def chat_admin_ids(bot: Bot, cache: AdminCache, chat_id: int) -> frozenset[int]:
    admin_ids = await cache.get(chat_id)
    if admin_ids is None:
        members = await bot.get_chat_administrators(chat_id)
        admin_ids = frozenset(member.user.id for member in members)
        await cache.put(chat_id, admin_ids)
    return admin_ids


async def linked_chat_id(bot: Bot, cache: AdminCache, chat_id: int) -> int | None:
    """The id of the channel linked to the group (getChat's linked_chat_id), None when there is none."""
    linked = await cache.get_linked_chat(chat_id)
    if linked is None:
        linked = (await bot.get_chat(chat_id)).linked_chat_id or NO_LINKED_CHAT
        await cache.put_linked_chat(chat_id, linked)
    return linked or None


def sent_as_chat(message: Message) -> bool:
    """Sent on behalf of a chat (the group, a channel) rather than by a user; `from_user` is then one of
    Telegram's service accounts, which says nothing about who sent it."""
    return message.sender_chat is not None or bool(message.is_automatic_forward)


def member_id(message: Message) -> int | None:
    """The user who sent the message, None when it was sent as a chat (anyone may post as their channel)."""
    return message.from_user.id if message.from_user and not sent_as_chat(message) else None


def sender_id(message: Message) -> int:
    """Who sent the message: the chat it was sent as, else the user (0 when Telegram names neither)."""
    if message.sender_chat is not None:
        return message.sender_chat.id
    return message.from_user.id if message.from_user else 0


def speaks_for_chat(message: Message, linked_chat_id: int | None = None) -> bool:
    """The group itself (an anonymous admin) or its linked channel (an automatic forward of its post, or
    a message sent as the channel `linked_chat_id`). Any other channel as sender is not the group."""
    if message.is_automatic_forward:  # set by Telegram only for posts of the linked channel
        return True
    sender = message.sender_chat
    return sender is not None and sender.id in (message.chat_id, linked_chat_id)


async def is_admin_message(bot: Bot, cache: AdminCache, message: Message) -> bool:
    """Whether `message` comes from an administrator of its chat or speaks for the chat itself."""
    if speaks_for_chat(message):
        return True
    if sent_as_chat(message):  # as some channel: only the linked one counts (getChat, once per TTL)
        return speaks_for_chat(message, await linked_chat_id(bot, cache, message.chat_id))
    if message.from_user is None:
        return False
    return message.from_user.id in await chat_admin_ids(bot, cache, message.chat_id)


async def admin_in_group(bot: Bot, cache: AdminCache, message: Message, language: Language) -> bool:
    """True for an admin's message in a group; otherwise replies why not (in `language`) and returns False."""
    if message.chat.type == ChatType.PRIVATE:
        await message.reply_text(text("group_only", language))
        return False
    if not await is_admin_message(bot, cache, message):
        # Sent as a channel other than the group's own: say why, since its author may well be an admin.
        refusal = "channel_not_admin" if sent_as_chat(message) else "admin_only"
        await message.reply_text(text(refusal, language))
        return False
    return True
