"""Who may administer a chat, and whose messages are never flagged.

Administrators come from the Bot API (getChatAdministrators), cached per chat for a TTL and
invalidated when a chat-member update says membership or rights changed.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from telegram import Bot, Chat, Message

Clock = Callable[[], float]


class AdminCache:
    """chat id -> administrators' user ids, each entry fresh for `ttl_s` seconds."""

    def __init__(self, ttl_s: float, clock: Clock = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._entries: dict[int, tuple[float, frozenset[int]]] = {}

    def get(self, chat_id: int) -> frozenset[int] | None:
        entry = self._entries.get(chat_id)
        if entry is None or self._clock() >= entry[0]:
            return None
        return entry[1]

    def put(self, chat_id: int, admin_ids: frozenset[int]) -> None:
        self._entries[chat_id] = (self._clock() + self._ttl_s, admin_ids)

    def invalidate(self, chat_id: int) -> None:
        self._entries.pop(chat_id, None)


async def chat_admin_ids(bot: Bot, cache: AdminCache, chat_id: int) -> frozenset[int]:
    admin_ids = cache.get(chat_id)
    if admin_ids is None:
        members = await bot.get_chat_administrators(chat_id)
        admin_ids = frozenset(member.user.id for member in members)
        cache.put(chat_id, admin_ids)
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
