"""The two Bot API questions the dashboard asks, with answers cached briefly in Redis (shared by replicas):
who is this user in that chat (getChatMember: an administrator? their name), and what is the chat called
(getChat); and the one thing it does in a chat: delete a photo an admin marked spam (deleteMessage)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from redis.asyncio import Redis

from web.auth import is_admin_status

logger = logging.getLogger(__name__)

# Telegram answers these for a chat the bot left or a user who never joined: nobody there to administer.
NOT_A_MEMBER_CODES = frozenset({400, 403})
TITLE_TTL_S = 3600  # chat titles rarely change
# Concurrent getChatMember calls when an admin's chats are looked up (Telegram allows ~30 calls/s per bot).
LOOKUP_CONCURRENCY = 8


class TelegramUnavailable(RuntimeError):
    """The Bot API did not answer, or refused the bot's token: nothing can be decided about anyone."""


class TelegramError(RuntimeError):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code


def member_key(chat_id: int, user_id: int) -> str:
    return f"scenetag:web:member:{chat_id}:{user_id}"


def title_key(chat_id: int) -> str:
    return f"scenetag:web:title:{chat_id}"


@dataclass(frozen=True)
class Member:
    status: str  # "creator", "administrator", "member", "left", ...
    name: str | None  # as the page shows them; None when Telegram does not know them in this chat

    @property
    def is_admin(self) -> bool:
        return is_admin_status(self.status)


def shown_name(user: dict[str, Any]) -> str:
    name = " ".join(part for part in (user.get("first_name"), user.get("last_name")) if part)
    return f"{name} (@{user['username']})" if user.get("username") else name


class BotApi:
    """getChatMember and getChat over one shared HTTP client, cached in Redis."""

    def __init__(
        self, http: httpx.AsyncClient, redis: Redis, base_url: str, token: str, member_ttl_s: int
    ) -> None:
        self._http = http
        self._redis = redis
        self._endpoint = f"{base_url}{token}"
        self._member_ttl_s = member_ttl_s

    async def call(self, method: str, **params: Any) -> Any:
        try:
            response = await self._http.post(f"{self._endpoint}/{method}", json=params)
            body = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise TelegramUnavailable(f"{method}: {error!r}") from error
        if body.get("ok"):
            return body["result"]
        code, description = body.get("error_code", response.status_code), body.get("description", "")
        if code in NOT_A_MEMBER_CODES:
            raise TelegramError(code, description)
        raise TelegramUnavailable(f"{method}: {code} {description}")  # 401 bad token, 429, 5xx

    async def member(self, chat_id: int, user_id: int) -> Member:
        key = member_key(chat_id, user_id)
        cached = await self._redis.get(key)
        if cached is not None:
            return Member(**json.loads(cached))
        try:
            found = await self.call("getChatMember", chat_id=chat_id, user_id=user_id)
            member = Member(found["status"], shown_name(found["user"]))
        except TelegramError as error:  # the bot left the chat, or the user is unknown to Telegram
            logger.info("getChatMember(%s, %s): %s", chat_id, user_id, error)
            member = Member("left", None)
        if self._member_ttl_s > 0:
            await self._redis.set(key, json.dumps(asdict(member)), ex=self._member_ttl_s)
        return member

    async def is_admin(self, chat_id: int, user_id: int) -> bool:
        return (await self.member(chat_id, user_id)).is_admin

    async def member_names(self, chat_id: int, user_ids: Sequence[int]) -> dict[int, str]:
        """Names of those of `user_ids` Telegram knows in the chat (the admins behind verdicts)."""
        found = {}
        for user_id in dict.fromkeys(user_ids):  # a handful: the admins who gave verdicts
            try:
                member = await self.member(chat_id, user_id)
            except TelegramUnavailable:
                return found  # names are a nicety: the page shows ids instead
            if member.name:
                found[user_id] = member.name
        return found

    async def administered(self, chat_ids: Sequence[int], user_id: int) -> list[int]:
        """Those of `chat_ids` the user administers (a few lookups at a time)."""
        gate = asyncio.Semaphore(LOOKUP_CONCURRENCY)

        async def check(chat_id: int) -> bool:
            async with gate:
                return await self.is_admin(chat_id, user_id)

        verdicts = await asyncio.gather(*(check(chat_id) for chat_id in chat_ids))
        return [chat_id for chat_id, admin in zip(chat_ids, verdicts, strict=True) if admin]

    async def delete_message(self, chat_id: int, message_id: int) -> bool:
        """Delete a message as the bot; False when Telegram refuses (gone already, or the bot may not)."""
        try:
            return bool(await self.call("deleteMessage", chat_id=chat_id, message_id=message_id))
        except TelegramError as error:
            logger.info("deleteMessage(%s, %s): %s", chat_id, message_id, error)
            return False

    async def chat_title(self, chat_id: int) -> str | None:
        """The chat's title, or None when Telegram will not say (the page shows the id instead)."""
        key = title_key(chat_id)
        cached = await self._redis.get(key)
        if cached is not None:
            return cached.decode() or None
        try:
            title = (await self.call("getChat", chat_id=chat_id)).get("title") or ""
        except (TelegramError, TelegramUnavailable) as error:
            logger.info("getChat(%s): %s", chat_id, error)
            return None
        await self._redis.set(key, title, ex=TITLE_TTL_S)
        return title or None

    async def chat_titles(self, chat_ids: Sequence[int]) -> dict[int, str | None]:
        gate = asyncio.Semaphore(LOOKUP_CONCURRENCY)

        async def title(chat_id: int) -> str | None:
            async with gate:
                return await self.chat_title(chat_id)

        return dict(zip(chat_ids, await asyncio.gather(*(title(c) for c in chat_ids)), strict=True))
