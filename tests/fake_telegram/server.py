"""`FakeTelegram`: the Bot API over HTTP on 127.0.0.1, plus what tests do as users and observe as Telegram.

Routes as on api.telegram.org: `/bot<token>/<method>` (GET or POST; query string, urlencoded form,
multipart form or JSON body) and `/file/bot<token>/<file_path>` for downloads.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import logging
import re
import time
from collections.abc import Callable
from typing import Any, Self

from aiohttp import web

from tests.fake_telegram.entities import detect_entities
from tests.fake_telegram.methods import CANONICAL_NAMES, METHODS, commands_key
from tests.fake_telegram.objects import (
    CHANNEL_BOT,
    GROUP_ANONYMOUS_BOT,
    JSON,
    TELEGRAM_SERVICE,
    Chat,
    MemberStatus,
    User,
    chat_member,
    image_mime_type,
)
from tests.fake_telegram.state import ApiError, BotState, Params

logger = logging.getLogger(__name__)

# Matches bot/settings.py's BOT_TOKEN pattern; the bot's user id is the part before the colon.
DEFAULT_TOKEN = "123456789:TEST-fake-telegram-token"
_TOKEN_SHAPE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
NOT_FOUND = ApiError(404, "Not Found")
DEFAULT_WAIT_SECONDS = 10.0


class FakeTelegram:
    """A Bot API server for one bot. Use `async with FakeTelegram() as telegram:` (binds a free port)."""

    def __init__(self, token: str = DEFAULT_TOKEN, *, bot_username: str = "scenetag_test_bot") -> None:
        self.token = token
        bot = User(
            int(token.split(":", maxsplit=1)[0]),
            "SceneTag",
            username=bot_username,
            language_code=None,
            is_bot=True,
        )
        self.state = BotState(bot=bot)
        self.calls: list[tuple[str, JSON]] = []  # (canonical method name, decoded params), in arrival order
        self._activity = asyncio.Event()  # replaced after each set: wakes every waiter once
        self._failures: dict[str, list[ApiError]] = {}
        self._ids = itertools.count(1001)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> Self:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        logger.info("fake Telegram Bot API on %s", self.base_url)
        return self

    async def stop(self) -> None:
        await self.state.updates.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """TELEGRAM_BASE_URL for the bot (python-telegram-bot appends the token)."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    @property
    def bot(self) -> User:
        return self.state.bot

    def env(self) -> dict[str, str]:
        """Environment variables pointing a `scenetag-bot` process at this server."""
        return {
            "BOT_TOKEN": self.token,
            "TELEGRAM_BASE_URL": self.base_url,
            "TELEGRAM_BASE_FILE_URL": self.base_file_url,
        }

    # -- HTTP --------------------------------------------------------------------------------------

    async def _handle_method(self, request: web.Request) -> web.Response:
        token, name = request.match_info["token"], request.match_info["method"].lower()
        if token != self.token:
            return _error(ApiError(401, "Unauthorized") if _TOKEN_SHAPE.match(token) else NOT_FOUND)
        method = METHODS.get(name)
        if method is None:
            return _error(NOT_FOUND)
        try:
            params = await Params.from_request(request)
        except ApiError as exc:
            return _error(exc)
        canonical = CANONICAL_NAMES[name]
        self.calls.append((canonical, params.values))
        self._notify()
        try:
            if self._failures.get(canonical):
                raise self._failures[canonical].pop(0)
            result = method(self.state, params)
            if asyncio.iscoroutine(result):
                result = await result
        except ApiError as exc:
            return _error(exc)
        except Exception as exc:  # a bug in the fake: say so loudly instead of a bare HTTP 500
            logger.exception("fake Telegram failed on %s(%s)", canonical, params.values)
            return _error(ApiError(500, f"Internal Server Error: fake server bug: {exc!r}"))
        finally:
            self._notify()
        return web.json_response({"ok": True, "result": result})

    async def _handle_file(self, request: web.Request) -> web.Response:
        stored = self.state.files.by_path.get(request.match_info["file_path"])
        if request.match_info["token"] != self.token or stored is None:
            return _error(NOT_FOUND)
        return web.Response(body=stored.data, content_type="application/octet-stream")

    def _notify(self) -> None:
        self._activity.set()
        self._activity = asyncio.Event()

    # -- the world: users, chats, files ------------------------------------------------------------

    def new_user(
        self, first_name: str = "Alice", *, language_code: str | None = "en", username: str | None = None
    ) -> User:
        user = User(next(self._ids), first_name, username=username, language_code=language_code)
        self.state.users[user.id] = user
        return user

    def new_group(self, title: str = "Photo club", *, username: str | None = None) -> Chat:
        """A supergroup the bot is a plain member of (make it an admin with `set_admins`)."""
        chat = Chat(-1_000_000_000_000 - next(self._ids), "supergroup", title=title, username=username)
        self.state.add_chat(chat)
        return chat

    def new_channel(self, title: str = "Photo channel") -> Chat:
        """A channel: a group's linked channel (`link_channel`), or one a member posts as."""
        chat = Chat(-1_000_000_000_000 - next(self._ids), "channel", title=title)
        self.state.chats[chat.id] = chat
        return chat

    async def add_file(self, data: bytes) -> tuple[str, str]:
        """Put a file on the server; returns (file_id, file_unique_id) for getFile."""
        stored = self.state.files.add(data)
        return stored.file_id, stored.file_unique_id

    def forget_file(self, file_id: str) -> None:
        """Telegram no longer serves the file (deleted, or expired): getFile answers 400, its URL 404."""
        stored = self.state.files.by_id.pop(file_id)
        self.state.files.by_path.pop(stored.file_path, None)

    def block_bot(self, user: User) -> None:
        """The user blocks the bot: sending to them now fails with 403."""
        self.state.blocked_by.add(user.id)

    def fail_next(
        self,
        method: str,
        code: int = 500,
        description: str = "Internal Server Error",
        *,
        retry_after: int | None = None,
    ) -> None:
        """Make the next call of `method` fail (code 429 with retry_after gives Telegram's flood-wait)."""
        if retry_after is not None:
            code, description = 429, f"Too Many Requests: retry after {retry_after}"
        parameters = {"retry_after": retry_after} if retry_after is not None else None
        canonical = CANONICAL_NAMES[method.lower()]
        self._failures.setdefault(canonical, []).append(ApiError(code, description, parameters))

    # -- users acting: each queues the update Telegram would send the bot ---------------------------

    async def send_private_photo(
        self, user: User, data: bytes, caption: str | None = None, language_code: str | None = None
    ) -> JSON:
        """The user sends `data` as a photo (compressed by the client) in their private chat with the bot."""
        sender = _speaking(user, language_code)
        return self._incoming(
            user.private_chat, sender, photo=self.state.files.photo_sizes(data), **_caption(caption)
        )

    async def send_document_image(
        self,
        user: User,
        data: bytes,
        caption: str | None = None,
        *,
        file_name: str = "photo.jpg",
        mime_type: str | None = None,
        chat: Chat | None = None,
    ) -> JSON:
        """The user sends `data` "as a file" (uncompressed): Message.document with the client's MIME type."""
        stored = self.state.files.add(data)
        document = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": file_name,
            "mime_type": mime_type or image_mime_type(data) or "application/octet-stream",
            "file_size": len(data),
        }
        return self._incoming(chat or user.private_chat, user, document=document, **_caption(caption))

    async def send_group_photo(
        self,
        chat: Chat,
        sender: User | Chat,
        data: bytes,
        caption: str | None = None,
        *,
        forwarded_from: Chat | None = None,
        media_group_id: str | None = None,
    ) -> JSON:
        """A photo posted in a group, with hashtag entities computed in UTF-16 like Telegram's.

        `sender` is a member, the group itself (an anonymous admin), the group's linked channel (its post,
        forwarded into the group by Telegram) or any other channel (a member posting as their own channel).
        `forwarded_from`: the member forwards a post of that channel. `media_group_id`: a photo of that album
        (`send_album`), arriving after the others.
        """
        photo = self.state.files.photo_sizes(data)
        extra = {"forward_origin": self._channel_origin(forwarded_from)} if forwarded_from else {}
        extra |= {"media_group_id": media_group_id} if media_group_id else {}
        return self._group_message(chat, sender, photo=photo, **extra, **_caption(caption))

    async def send_album(
        self, chat: Chat, sender: User | Chat, photos: list[bytes], caption: str | None = None
    ) -> list[JSON]:
        """Photos sent together: one message each with a shared media_group_id, the caption on the first."""
        group_id = str(next(self._ids) * 104729)
        return [
            self._group_message(
                chat,
                sender,
                photo=self.state.files.photo_sizes(data),
                media_group_id=group_id,
                **_caption(caption if index == 0 else None),
            )
            for index, data in enumerate(photos)
        ]

    async def edit_caption(self, message: JSON, caption: str) -> JSON:
        """The sender edits the caption of their `message`: Telegram sends the whole message again as an
        edited_message update, with edit_date."""
        current = self.state.message(message["chat"]["id"], message["message_id"])
        if current is None:
            raise AssertionError(f"message {message['message_id']} is gone; nobody can edit it")
        current.pop("caption_entities", None)
        current |= {**_caption(caption), "edit_date": int(time.time())}
        self.state.updates.push("edited_message", copy.deepcopy(current))
        return current

    def link_channel(self, group: Chat, channel: Chat) -> None:
        """Make `channel` the group's linked channel (getChat's linked_chat_id; its posts are forwarded)."""
        self.state.linked_chats[group.id] = channel.id

    def _group_message(self, chat: Chat, sender: User | Chat, **fields: Any) -> JSON:
        """A message in a group from a user, or on behalf of a chat as Telegram attributes it."""
        if isinstance(sender, User):
            return self._incoming(chat, sender, **fields)
        if sender.id == chat.id:
            return self._incoming(chat, GROUP_ANONYMOUS_BOT, sender_chat=sender.to_api(), **fields)
        # The linked channel's posts arrive as automatic forwards; a text (a command) written as it does not.
        if self.state.linked_chats.get(chat.id) == sender.id and "text" not in fields:
            fields |= {"is_automatic_forward": True, "forward_origin": self._channel_origin(sender)}
            return self._incoming(chat, TELEGRAM_SERVICE, sender_chat=sender.to_api(), **fields)
        # Sent as a channel (the member chose it in the "send as" menu): `from` is Telegram's Channel_Bot.
        return self._incoming(chat, CHANNEL_BOT, sender_chat=sender.to_api(), **fields)

    def _channel_origin(self, channel: Chat) -> JSON:
        """MessageOriginChannel of a post of `channel`."""
        chat, message_id, date = channel.to_api(), next(self._ids), int(time.time())
        return {"type": "channel", "chat": chat, "message_id": message_id, "date": date}

    async def send_text(
        self, chat: Chat, user: User | Chat, text: str, *, reply_to: JSON | None = None
    ) -> JSON:
        """A text message; entities (commands, hashtags, mentions) as Telegram detects them. `user` may be a
        chat: the group itself (anonymous admin) or a channel the message is sent as."""
        reply = {k: v for k, v in reply_to.items() if k != "reply_to_message"} if reply_to else None
        return self._group_message(
            chat, user, text=text, entities=detect_entities(text) or None, reply_to_message=reply
        )

    async def send_command(self, chat: Chat, user: User | Chat, command: str) -> JSON:
        """E.g. `send_command(group, alice, "/moderation on")`; add "@<bot username>" yourself if wanted."""
        return await self.send_text(chat, user, command)

    async def press_button(self, message: JSON, callback_data: str, user: User) -> str:
        """The user taps the button with `callback_data` under the bot's `message`; returns its query id."""
        current = self.state.message(message["chat"]["id"], message["message_id"])
        if current is None:
            raise AssertionError(f"message {message['message_id']} is gone; nobody can press its buttons")
        rows = current.get("reply_markup", {}).get("inline_keyboard", [])
        if not any(button.get("callback_data") == callback_data for row in rows for button in row):
            raise AssertionError(f"no button with callback_data {callback_data!r} under that message: {rows}")
        query_id = str(next(self._ids) * 7919)
        query = {
            "id": query_id,
            "from": user.to_api(),
            "message": copy.deepcopy(current),
            "chat_instance": str(-current["chat"]["id"] * 31),
            "data": callback_data,
        }
        self.state.users[user.id] = user
        self.state.open_callback_queries[query_id] = query
        self.state.updates.push("callback_query", query)
        return query_id

    async def set_admins(
        self, chat: Chat, users: list[User], *, anonymous: bool = False, bot_is_admin: bool = True
    ) -> None:
        """Make `users` the chat's administrators (the first is the creator); former admins become members."""
        members = self.state.members[chat.id]
        for user_id, member in list(members.items()):
            if member["status"] in ("creator", "administrator") and user_id != self.bot.id:
                members[user_id] = chat_member(self.state.users[user_id], "member")
        for index, user in enumerate(users):
            self.state.users[user.id] = user
            members[user.id] = chat_member(
                user, "creator" if index == 0 else "administrator", is_anonymous=anonymous
            )
        members[self.bot.id] = chat_member(self.bot, "administrator" if bot_is_admin else "member")

    async def chat_member_update(
        self, chat: Chat, user: User, new_status: MemberStatus, *, by: User | None = None
    ) -> JSON | None:
        """Change a member's status; queues my_chat_member (the bot) or chat_member (if the bot asked)."""
        members = self.state.members[chat.id]
        old = members.get(user.id) or chat_member(user, "left")
        new = chat_member(user, new_status)
        members[user.id] = new
        self.state.users[user.id] = user
        kind = "my_chat_member" if user.id == self.bot.id else "chat_member"
        actor = by or user
        update = {
            "chat": chat.to_api(),
            "from": actor.to_api(),
            "date": int(time.time()),
            "old_chat_member": old,
            "new_chat_member": new,
        }
        return self.state.updates.push(kind, update)

    def _incoming(self, chat: Chat, sender: User, **fields: Any) -> JSON:
        if chat.id not in self.state.chats:
            self.state.add_chat(chat)
        self.state.users.setdefault(sender.id, sender)
        if chat.type == "private":
            self.state.started.add(chat.id)
        elif sender.is_bot is False and sender.id not in self.state.members[chat.id]:
            self.state.members[chat.id][sender.id] = chat_member(sender, "member")
        message = self.state.add_message(chat, sender, **fields)
        self.state.updates.push("message", copy.deepcopy(message))
        return message

    # -- observing the bot -------------------------------------------------------------------------

    def messages_in(self, chat_id: int) -> list[JSON]:
        """The chat's messages still present (users' and the bot's), oldest first."""
        return list(self.state.messages.get(chat_id, {}).values())

    @property
    def deleted_messages(self) -> list[tuple[int, int]]:
        """(chat_id, message_id) of every deleted message, in order."""
        return list(self.state.deleted)

    @property
    def callback_answers(self) -> dict[str, JSON]:
        """answerCallbackQuery params by query id."""
        return self.state.callback_answers

    def my_commands(self, language_code: str = "", scope: JSON | None = None) -> list[JSON]:
        """Commands the bot registered for that scope and language (setMyCommands)."""
        return self.state.commands.get(commands_key(scope, language_code), [])

    async def wait_for_call(
        self,
        method: str,
        predicate: Callable[[JSON], bool] | None = None,
        *,
        timeout: float = DEFAULT_WAIT_SECONDS,  # noqa: ASYNC109 - a deadline for the assertion, not for I/O
        after: int = 0,
    ) -> JSON:
        """Params of the first call of `method` at index >= `after` in `calls` that satisfies `predicate`."""
        canonical = CANONICAL_NAMES[method.lower()]

        def find() -> JSON | None:
            return next(
                (p for m, p in self.calls[after:] if m == canonical and (predicate is None or predicate(p))),
                None,
            )

        return await self._wait(find, timeout, f"no {canonical} call matching the predicate")

    async def wait_for_message(
        self,
        chat_id: int,
        predicate: Callable[[JSON], bool] | None = None,
        *,
        timeout: float = DEFAULT_WAIT_SECONDS,  # noqa: ASYNC109 - a deadline for the assertion, not for I/O
        after_message_id: int = 0,
    ) -> JSON:
        """The first message the bot has in the chat (still there, newer than `after_message_id`) matching."""

        def find() -> JSON | None:
            return next(
                (
                    m
                    for m in self.messages_in(chat_id)
                    if m["message_id"] > after_message_id
                    and m.get("from", {}).get("id") == self.bot.id
                    and (predicate is None or predicate(m))
                ),
                None,
            )

        return await self._wait(find, timeout, f"no bot message in chat {chat_id} matching the predicate")

    async def _wait(self, find: Callable[[], JSON | None], seconds: float, failure: str) -> JSON:
        try:
            async with asyncio.timeout(seconds):
                while (found := find()) is None:
                    await self._activity.wait()
                return found
        except TimeoutError:
            pass
        raise AssertionError(f"{failure} within {seconds} s; calls so far: {[m for m, _ in self.calls]}")


def _speaking(user: User, language_code: str | None) -> User:
    if language_code is None:
        return user
    return User(user.id, user.first_name, user.last_name, user.username, language_code, user.is_bot)


def _caption(caption: str | None) -> JSON:
    if not caption:
        return {}
    return {"caption": caption, "caption_entities": detect_entities(caption) or None}


def _error(error: ApiError) -> web.Response:
    return web.json_response(error.to_api(), status=error.code)
