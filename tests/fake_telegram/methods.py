"""The Bot API methods the fake implements, with Telegram's checks and error descriptions.

Each method takes the `BotState` and the request's `Params` and returns the `result` value, or raises
`ApiError`. `METHODS` maps lower-case names to them (method names are case-insensitive on Telegram).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tests.fake_telegram.entities import EntityParseError, render
from tests.fake_telegram.objects import (
    JSON,
    MAX_DOWNLOAD_BYTES,
    Chat,
    chat_member,
    image_mime_type,
    is_admin,
)
from tests.fake_telegram.state import ApiError, BotState, Params, Upload, bad_request
from tests.fake_telegram.updates import UpdateConflict

Method = Callable[[BotState, Params], Any | Awaitable[Any]]
METHODS: dict[str, Method] = {}
CANONICAL_NAMES: dict[str, str] = {}

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_COMMAND_NAME = re.compile(r"^[a-z0-9_]{1,32}$")
_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same as a "
    "current content and reply markup of the message"
)


def api_method(name: str) -> Callable[[Method], Method]:
    def register(function: Method) -> Method:
        METHODS[name.lower()] = function
        CANONICAL_NAMES[name.lower()] = name
        return function

    return register


def _rendered(
    text: str, params: Params, entities_field: str, limit: int, kind: str
) -> tuple[str, list[JSON]]:
    try:
        text, entities = render(text, params.get("parse_mode"), params.get(entities_field))
    except EntityParseError as exc:
        raise bad_request(str(exc)) from None
    if len(text) > limit:
        raise bad_request(f"{kind} is too long")
    return text, entities


def _inline_markup(params: Params) -> JSON | None:
    """The reply_markup a Message carries: only inline keyboards are part of the message."""
    markup = params.get("reply_markup")
    if not isinstance(markup, dict) or "inline_keyboard" not in markup:
        return None
    for row in markup["inline_keyboard"]:
        for button in row:
            if not button.get("text"):
                raise bad_request("BUTTON_TEXT_INVALID")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES:
                raise bad_request("BUTTON_DATA_INVALID")
    return markup


def _reply_target(state: BotState, chat_id: int, params: Params) -> JSON | None:
    """reply_to_message for reply_parameters or the legacy reply_to_message_id."""
    reply = params.get("reply_parameters") or {}
    message_id = reply.get("message_id", params.get("reply_to_message_id"))
    if message_id is None:
        return None
    target_chat = state.chat(reply["chat_id"]).id if "chat_id" in reply else chat_id
    target = state.message(target_chat, int(message_id))
    if target is None:
        if reply.get("allow_sending_without_reply", params.get("allow_sending_without_reply")):
            return None
        raise bad_request("message to be replied not found")
    return {key: value for key, value in target.items() if key != "reply_to_message"}


def _send(state: BotState, params: Params, **content: Any) -> JSON:
    chat = state.writable_chat(params.required("chat_id"))
    return state.add_message(
        chat,
        state.bot,
        **content,
        reply_markup=_inline_markup(params),
        reply_to_message=_reply_target(state, chat.id, params),
    )


def _own_message(state: BotState, params: Params, missing: str) -> JSON:
    if params.get("inline_message_id"):
        raise bad_request("inline messages are not supported by the fake server")
    chat = state.chat(params.required("chat_id"))
    message = state.message(chat.id, params.integer("message_id"))
    if message is None:
        raise bad_request(missing)
    if message.get("from", {}).get("id") != state.bot.id:
        raise bad_request("message can't be edited")
    return message


def _edit(message: JSON, changes: JSON) -> JSON:
    if all((message.get(key) or None) == (value or None) for key, value in changes.items()):
        raise bad_request(NOT_MODIFIED)
    for key, value in changes.items():
        if not value:
            message.pop(key, None)
        else:
            message[key] = value
    message["edit_date"] = int(time.time())
    return message


def _input_file(state: BotState, params: Params, name: str) -> tuple[bytes, Upload | None]:
    """A file parameter: an upload (inline or attach://), a known file_id, or a URL (never fetched here)."""
    value = params.required(name, f"there is no {name} in the request")
    if isinstance(value, str) and value.startswith("attach://"):
        value = params.get(value.removeprefix("attach://"))
    if isinstance(value, Upload):
        return value.data, value
    if isinstance(value, str) and value in state.files.by_id:
        return state.files.by_id[value].data, None
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        raise bad_request("failed to get HTTP URL content")
    raise bad_request("wrong file identifier/HTTP URL specified")


def _caption(params: Params) -> JSON:
    if not params.get("caption"):
        return {}
    text, entities = _rendered(
        params.get("caption"), params, "caption_entities", MAX_CAPTION_LENGTH, "caption"
    )
    return {"caption": text, "caption_entities": entities or None}


@api_method("getMe")
def get_me(state: BotState, params: Params) -> JSON:
    # Privacy mode off (can_read_all_group_messages): moderation needs every group photo.
    capabilities = {"can_join_groups": True, "can_read_all_group_messages": True}
    absent = ("supports_inline_queries", "can_connect_to_business", "has_main_web_app")
    return state.bot.to_api() | capabilities | dict.fromkeys(absent, False)


@api_method("getUpdates")
async def get_updates(state: BotState, params: Params) -> list[JSON]:
    state.updates.set_allowed(params.get("allowed_updates"))
    limit = min(max(params.get("limit") or 100, 1), 100)
    try:
        return await state.updates.get(params.get("offset") or 0, limit, float(params.get("timeout") or 0))
    except UpdateConflict as exc:
        raise ApiError(409, str(exc)) from None


@api_method("setWebhook")
def set_webhook(state: BotState, params: Params) -> bool:
    secret = params.get("secret_token")
    if secret is not None and not _SECRET_TOKEN.match(secret):
        raise bad_request("secret token contains unallowed characters")
    if params.get("drop_pending_updates"):
        state.updates.drop_pending()
    state.updates.set_allowed(params.get("allowed_updates"))
    state.updates.set_webhook(params.get("url") or "", secret)
    return True


@api_method("deleteWebhook")
def delete_webhook(state: BotState, params: Params) -> bool:
    if params.get("drop_pending_updates"):
        state.updates.drop_pending()
    state.updates.set_webhook("", None)
    return True


@api_method("getWebhookInfo")
def get_webhook_info(state: BotState, params: Params) -> JSON:
    queue = state.updates
    info: JSON = {
        "url": queue.webhook_url,
        "has_custom_certificate": False,
        "pending_update_count": queue.pending_count,
    }
    if queue.webhook_url:
        info |= {"max_connections": 40, "allowed_updates": queue.allowed_updates}
    if queue.webhook_error:
        info |= {"last_error_date": queue.webhook_error[0], "last_error_message": queue.webhook_error[1]}
    return {key: value for key, value in info.items() if value is not None}


def commands_key(scope: JSON | None, language_code: str | None) -> tuple[str, str]:
    """Commands are stored per (scope, language); no scope means the default scope."""
    return json.dumps(scope or {"type": "default"}, sort_keys=True), language_code or ""


@api_method("setMyCommands")
def set_my_commands(state: BotState, params: Params) -> bool:
    commands = params.required("commands")
    for command in commands:
        if not _COMMAND_NAME.match(str(command.get("command", ""))):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(str(command.get("description", ""))) <= 256:
            raise bad_request("command description is empty")
    state.commands[commands_key(params.get("scope"), params.get("language_code"))] = list(commands)
    return True


@api_method("getMyCommands")
def get_my_commands(state: BotState, params: Params) -> list[JSON]:
    return state.commands.get(commands_key(params.get("scope"), params.get("language_code")), [])


@api_method("deleteMyCommands")
def delete_my_commands(state: BotState, params: Params) -> bool:
    state.commands.pop(commands_key(params.get("scope"), params.get("language_code")), None)
    return True


@api_method("sendMessage")
def send_message(state: BotState, params: Params) -> JSON:
    text, entities = _rendered(
        params.required("text", "message text is empty"), params, "entities", MAX_TEXT_LENGTH, "message"
    )
    if not text:
        raise bad_request("message text is empty")
    return _send(state, params, text=text, entities=entities or None)


@api_method("sendPhoto")
def send_photo(state: BotState, params: Params) -> JSON:
    data, upload = _input_file(state, params, "photo")
    if upload is not None and image_mime_type(data) is None:
        raise bad_request("IMAGE_PROCESS_FAILED")
    return _send(state, params, photo=state.files.photo_sizes(data), **_caption(params))


@api_method("sendDocument")
def send_document(state: BotState, params: Params) -> JSON:
    data, upload = _input_file(state, params, "document")
    stored = state.files.add(data)
    document = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "file_size": len(data)}
    if upload is not None:
        document |= {"file_name": upload.filename, "mime_type": upload.content_type}
    return _send(state, params, document=document, **_caption(params))


@api_method("editMessageText")
def edit_message_text(state: BotState, params: Params) -> JSON:
    message = _own_message(state, params, "message to edit not found")
    text, entities = _rendered(
        params.required("text", "message text is empty"), params, "entities", MAX_TEXT_LENGTH, "message"
    )
    # Like Telegram, an edit without reply_markup removes the inline keyboard.
    return _edit(message, {"text": text, "entities": entities, "reply_markup": _inline_markup(params)})


@api_method("editMessageReplyMarkup")
def edit_message_reply_markup(state: BotState, params: Params) -> JSON:
    message = _own_message(state, params, "message to edit not found")
    return _edit(message, {"reply_markup": _inline_markup(params)})


def _may_delete(state: BotState, chat: Chat, message: JSON) -> bool:
    bot_member = state.members[chat.id].get(state.bot.id)
    own = message.get("from", {}).get("id") == state.bot.id
    can_delete = is_admin(bot_member) and bot_member.get("can_delete_messages", True)
    return chat.type == "private" or own or can_delete


def _delete(state: BotState, chat: Chat, message_id: int) -> None:
    del state.messages[chat.id][message_id]
    state.deleted.append((chat.id, message_id))


@api_method("deleteMessage")
def delete_message(state: BotState, params: Params) -> bool:
    chat = state.chat(params.required("chat_id"))
    message_id = params.integer("message_id")
    message = state.message(chat.id, message_id)
    if message is None:
        raise bad_request("message to delete not found")
    if not _may_delete(state, chat, message):
        raise bad_request("message can't be deleted")
    _delete(state, chat, message_id)
    return True


@api_method("deleteMessages")
def delete_messages(state: BotState, params: Params) -> bool:
    """1-100 messages at once; as Telegram does, those not found are skipped, and one the bot may not delete
    fails the call before any is deleted."""
    chat = state.chat(params.required("chat_id"))
    message_ids = params.required("message_ids")
    if not isinstance(message_ids, list) or not 1 <= len(message_ids) <= 100:
        raise bad_request("message_ids must be 1-100 message identifiers")
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in message_ids):
        raise bad_request("message_ids must be 1-100 message identifiers")
    found = [(i, m) for i in message_ids if (m := state.message(chat.id, i)) is not None]
    if not found:
        raise bad_request("message to delete not found")
    if not all(_may_delete(state, chat, message) for _, message in found):
        raise bad_request("message can't be deleted")
    for message_id, _ in found:
        _delete(state, chat, message_id)
    return True


@api_method("sendChatAction")
def send_chat_action(state: BotState, params: Params) -> bool:
    state.writable_chat(params.required("chat_id"))
    if params.get("action") not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    return True


@api_method("answerCallbackQuery")
def answer_callback_query(state: BotState, params: Params) -> bool:
    query_id = str(params.required("callback_query_id"))
    if state.open_callback_queries.pop(query_id, None) is None:
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    if len(params.get("text") or "") > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    state.callback_answers[query_id] = dict(params.values)
    return True


@api_method("getFile")
def get_file(state: BotState, params: Params) -> JSON:
    stored = state.files.by_id.get(params.required("file_id"))
    if stored is None:
        raise bad_request("invalid file_id")
    if len(stored.data) > MAX_DOWNLOAD_BYTES:
        raise bad_request("file is too big")
    return stored.to_api()


@api_method("getChat")
def get_chat(state: BotState, params: Params) -> JSON:
    chat = state.chat(params.required("chat_id"))
    linked = state.linked_chats.get(chat.id)
    return chat.full_info() | ({"linked_chat_id": linked} if linked is not None else {})


@api_method("getChatMember")
def get_chat_member(state: BotState, params: Params) -> JSON:
    chat = state.chat(params.required("chat_id"))
    user = state.users.get(params.integer("user_id"))
    if user is None:
        raise bad_request("user not found")
    if chat.type == "private":
        return chat_member(user, "member")
    return state.members[chat.id].get(user.id) or chat_member(user, "left")


@api_method("getChatAdministrators")
def get_chat_administrators(state: BotState, params: Params) -> list[JSON]:
    chat = state.chat(params.required("chat_id"))
    if chat.type == "private":
        raise bad_request("there are no administrators in the private chat")
    admins = [member for member in state.members[chat.id].values() if is_admin(member)]
    return sorted(admins, key=lambda member: member["status"] != "creator")


@api_method("getChatMemberCount")
def get_chat_member_count(state: BotState, params: Params) -> int:
    chat = state.chat(params.required("chat_id"))
    if chat.type == "private":
        return 2
    return sum(m["status"] in ("creator", "administrator", "member") for m in state.members[chat.id].values())


@api_method("logOut")
@api_method("close")
def log_out(state: BotState, params: Params) -> bool:
    return True
