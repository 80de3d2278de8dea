"""What Telegram knows about the bot under test: its chats, members, messages, files and commands.

Also the request side shared by every method: `Params` (query, form, multipart or JSON fields decoded
by their Bot API type) and `ApiError` (a Bot API error object).
"""

from __future__ import annotations

import itertools
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fake_telegram.objects import JSON, Chat, FileStore, User, chat_member
from tests.fake_telegram.updates import UpdateQueue

# Parameters whose Bot API type is an object or array: form fields carry them JSON-encoded.
JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "reply_parameters",
        "entities",
        "caption_entities",
        "allowed_updates",
        "commands",
        "scope",
        "link_preview_options",
        "media",
        "reaction",
        "message_ids",
    }
)
INTEGER_FIELDS = frozenset(
    {
        "chat_id",
        "message_id",
        "user_id",
        "offset",
        "limit",
        "timeout",
        "cache_time",
        "reply_to_message_id",
        "message_thread_id",
        "from_chat_id",
        "max_connections",
        "until_date",
    }
)
BOOLEAN_FIELDS = frozenset(
    {
        "show_alert",
        "disable_notification",
        "protect_content",
        "drop_pending_updates",
        "allow_sending_without_reply",
        "has_spoiler",
        "only_if_banned",
        "revoke_messages",
        "disable_content_type_detection",
        "show_caption_above_media",
    }
)


class ApiError(Exception):
    """A Bot API error: `{"ok": false, "error_code": code, "description": ...}`."""

    def __init__(self, code: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters

    def to_api(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


@dataclass(frozen=True)
class Upload:
    """A file sent in a multipart/form-data part."""

    filename: str
    data: bytes
    content_type: str

    def __repr__(self) -> str:
        return f"Upload({self.filename!r}, {len(self.data)} bytes, {self.content_type!r})"


def decode_field(name: str, value: Any) -> Any:
    """A form field's string as the typed value the Bot API reads from it (JSON bodies arrive typed)."""
    if not isinstance(value, str):
        return value
    try:
        if name in JSON_FIELDS:
            return json.loads(value)
        if name in INTEGER_FIELDS and value.lstrip("-").isdigit():
            return int(value)
    except ValueError:
        raise bad_request(f"can't parse {name} JSON object") from None
    if name in BOOLEAN_FIELDS:
        return value.lower() in ("true", "1")
    return value


@dataclass
class Params:
    """One request's parameters, decoded; uploads stay as `Upload` values."""

    values: dict[str, Any]

    @classmethod
    async def from_request(cls, request: web.Request) -> Params:
        """Query string, then the body: JSON, urlencoded or multipart (file parts become `Upload`s)."""
        raw: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            body = await request.json()
            if not isinstance(body, dict):
                raise bad_request("JSON object expected")
            raw |= body
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            for name, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    raw[name] = Upload(value.filename, value.file.read(), value.content_type)
                else:
                    raw[name] = value
        return cls({name: decode_field(name, value) for name, value in raw.items()})

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    def required(self, name: str, description: str | None = None) -> Any:
        value = self.values.get(name)
        if value is None or value == "":
            raise bad_request(description or f"{name} is empty")
        return value

    def integer(self, name: str, default: int | None = None) -> int:
        value = self.values.get(name, default)
        if not isinstance(value, int) or isinstance(value, bool):
            raise bad_request(f"{name} is empty" if value is None else f"invalid {name} specified")
        return value


@dataclass
class BotState:
    """Telegram's side of the world for one bot."""

    bot: User
    files: FileStore = field(default_factory=FileStore)
    updates: UpdateQueue = field(default_factory=UpdateQueue)
    users: dict[int, User] = field(default_factory=dict)
    chats: dict[int, Chat] = field(default_factory=dict)
    members: dict[int, dict[int, JSON]] = field(
        default_factory=lambda: defaultdict(dict)
    )  # chat -> user -> member
    messages: dict[int, dict[int, JSON]] = field(
        default_factory=lambda: defaultdict(dict)
    )  # chat -> id -> message
    linked_chats: dict[int, int] = field(default_factory=dict)  # group -> its linked channel
    deleted: list[tuple[int, int]] = field(default_factory=list)  # (chat_id, message_id), in order
    started: set[int] = field(default_factory=set)  # users who have written to the bot (it may write back)
    blocked_by: set[int] = field(default_factory=set)  # users who blocked the bot
    open_callback_queries: dict[str, JSON] = field(default_factory=dict)  # id -> query, until answered
    callback_answers: dict[str, JSON] = field(default_factory=dict)  # id -> answerCallbackQuery params
    commands: dict[tuple[str, str], list[JSON]] = field(default_factory=dict)  # (scope, language) -> commands
    _message_ids: dict[int, itertools.count[int]] = field(default_factory=dict)

    def add_chat(self, chat: Chat) -> None:
        self.chats[chat.id] = chat
        if chat.type != "private":
            self.members[chat.id].setdefault(self.bot.id, chat_member(self.bot, "member"))

    def chat(self, chat_id: int | str) -> Chat:
        """Resolve a chat_id parameter (an id or "@username") or fail as Telegram does."""
        if isinstance(chat_id, str):
            chat = next((c for c in self.chats.values() if c.username and f"@{c.username}" == chat_id), None)
        else:
            chat = self.chats.get(chat_id)
        if chat is None:
            raise bad_request("chat not found")
        return chat

    def writable_chat(self, chat_id: int | str) -> Chat:
        """The chat, if the bot may post in it (started private chat, group it still belongs to)."""
        chat = self.chat(chat_id)
        if chat.type == "private":
            if chat.id in self.blocked_by:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            if chat.id not in self.started:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        else:
            status = self.members[chat.id].get(self.bot.id, {}).get("status", "left")
            if status in ("left", "kicked"):
                verb = "was kicked from" if status == "kicked" else "is not a member of"
                raise ApiError(403, f"Forbidden: bot {verb} the {chat.type} chat")
        return chat

    def add_message(self, chat: Chat, sender: User | None, **fields: Any) -> JSON:
        """Store a new message with the chat's next message_id (ids are per chat)."""
        counter = self._message_ids.setdefault(chat.id, itertools.count(1))
        message: JSON = {"message_id": next(counter), "date": int(time.time()), "chat": chat.to_api()}
        if sender is not None:
            message["from"] = sender.to_api()
        message |= {key: value for key, value in fields.items() if value is not None}
        self.messages[chat.id][message["message_id"]] = message
        return message

    def message(self, chat_id: int, message_id: int) -> JSON | None:
        return self.messages.get(chat_id, {}).get(message_id)
