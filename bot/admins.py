"""Who may administer a chat, and whose messages are never flagged.

Administrators come from the Bot API (getChatAdministrators), cached per chat in Redis for a TTL, so
every bot replica shares one cache and one invalidation: a chat-member update (received by whichever
replica Telegram reached) deletes the chat's entry for all of them.
"""

from __future__ import annotations

import json

from redis.asyncio import Redis
from telegram import Bot, Chat, Message


def admins_key(chat_id: int) -> str:
    return f"scenetag:admins:{chat_id}"


class AdminCache:
    """chat id -> administrators' user ids, each entry fresh for `ttl_s` seconds (0: never cached)."""

    def __init__(self, redis: Redis, ttl_s: float) -> None:
        self._redis = redis
        self._ttl_ms = round(ttl_s * 1000)

    async def get(self, chat_id: int) -> frozenset[int] | None:
        raw = await self._redis.get(admins_key(chat_id))
        return None if raw is None else frozenset(json.loads(raw))

    async def put(self, chat_id: int, admin_ids: frozenset[int]) -> None:
        if self._ttl_ms > 0:
            await self._redis.set(admins_key(chat_id), json.dumps(sorted(admin_ids)), px=self._ttl_ms)

    async def invalidate(self, chat_id: int) -> None:
        await self._redis.delete(admins_key(chat_id))


async def chat_admin_ids(bot: Bot, cache: AdminCache, chat_id: int) -> frozenset[int]:
    admin_ids = await cache.get(chat_id)
    if admin_ids is None:
        members = await bot.get_chat_administrators(chat_id)
        admin_ids = frozenset(member.user.id for member in members)
        await cache.put(chat_id, admin_ids)
    return admin_ids


def sent_for_chat_itself(message: Message) -> bool:
    """An anonymous admin (sender_chat is the group) or the linked channel (automatic forward or
    a channel as sender) speaks for the chat; such messages are admin messages, never spam."""
    sender_chat = message.sender_chat
    if message.is_automatic_forward:
        return True
    return sender_chat is not None and (sender_chat.id == message.chat_id or sender_chat.type == Chat.CHANNEL)


async def is_admin_message(bot: Bot, cache: AdminCache, message: Message) -> bool:
    """Whether `message` comes from an administrator of its chat (or on the chat's own behalf)."""
    if sent_for_chat_itself(message):
        return True
    if message.from_user is None:
        return False
    return message.from_user.id in await chat_admin_ids(bot, cache, message.chat_id)
