"""Bot API objects the fake server hands out: users, chats, chat members and stored files.

Shapes follow https://core.telegram.org/bots/api (the fields python-telegram-bot 22 requires, plus the
realistic optional ones); None-valued fields are left out, as Telegram does.
"""

from __future__ import annotations

import functools
import hashlib
import io
import itertools
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from PIL import Image, UnidentifiedImageError

JSON = dict[str, Any]
ChatType = Literal["private", "group", "supergroup", "channel"]
MemberStatus = Literal["creator", "administrator", "member", "left", "kicked"]

# Telegram's largest download for bots (getFile refuses bigger files).
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
# Photo sizes Telegram makes besides the original: (type letter, longest side).
THUMBNAIL_SIDES = (("s", 90), ("m", 320), ("x", 800))


def _without_none(data: JSON) -> JSON:
    return {key: value for key, value in data.items() if value is not None}


@dataclass(frozen=True)
class User:
    """A Telegram user (or bot)."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "en"  # the client's language, which the bot localises by
    is_bot: bool = False

    def to_api(self) -> JSON:
        return _without_none(asdict(self))

    @property
    def private_chat(self) -> Chat:
        """The private chat between this user and the bot."""
        return Chat(
            self.id, "private", first_name=self.first_name, last_name=self.last_name, username=self.username
        )


@dataclass(frozen=True)
class Chat:
    """A chat; group chats have negative ids (supergroups -100...)."""

    id: int
    type: ChatType
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None

    def to_api(self) -> JSON:
        return _without_none(asdict(self))

    def full_info(self) -> JSON:
        """ChatFullInfo, as getChat returns it."""
        gifts = dict.fromkeys(
            (
                "unlimited_gifts",
                "limited_gifts",
                "unique_gifts",
                "premium_subscription",
                "gifts_from_channels",
            ),
            True,
        )
        return {**self.to_api(), "accent_color_id": 0, "max_reaction_count": 11, "accepted_gift_types": gifts}


# Telegram's service accounts: the sender of anonymous admins' messages, of linked-channel forwards and of
# messages a member sends as a channel.
GROUP_ANONYMOUS_BOT = User(1087968824, "Group", username="GroupAnonymousBot", language_code=None, is_bot=True)
TELEGRAM_SERVICE = User(777000, "Telegram", language_code=None)
CHANNEL_BOT = User(136817688, "Channel", username="Channel_Bot", language_code=None, is_bot=True)

_ADMIN_RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_pin_messages",
)


def chat_member(user: User, status: MemberStatus, *, is_anonymous: bool = False) -> JSON:
    """A ChatMember of the given status; administrators get every right except promoting others."""
    member: JSON = {"status": status, "user": user.to_api()}
    if status == "creator":
        member["is_anonymous"] = is_anonymous
    elif status == "administrator":
        member |= dict.fromkeys(_ADMIN_RIGHTS, True)
        member |= {"can_be_edited": False, "is_anonymous": is_anonymous, "can_promote_members": False}
    elif status == "kicked":
        member["until_date"] = 0
    return member


def is_admin(member: JSON | None) -> bool:
    return member is not None and member["status"] in ("creator", "administrator")


@dataclass(frozen=True)
class StoredFile:
    """A file on Telegram's servers, reachable by file_id and, once getFile ran, by file_path."""

    file_id: str
    file_unique_id: str
    data: bytes
    file_path: str

    def to_api(self) -> JSON:
        """The File object getFile returns (file_path relative, as on Telegram)."""
        path = self.file_path if len(self.data) <= MAX_DOWNLOAD_BYTES else None
        return _without_none(
            {
                "file_id": self.file_id,
                "file_unique_id": self.file_unique_id,
                "file_size": len(self.data),
                "file_path": path,
            }
        )


@dataclass
class FileStore:
    """Every file the fake knows: uploaded by the bot or injected by a test."""

    by_id: dict[str, StoredFile] = field(default_factory=dict)
    by_path: dict[str, StoredFile] = field(default_factory=dict)
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    def add(self, data: bytes, folder: str = "documents", extension: str = "bin") -> StoredFile:
        # file_unique_id depends on the content only (the same bytes sent twice keep it); file_id does not.
        unique = "AQAD" + hashlib.sha256(data).hexdigest()[:12]
        stored = StoredFile(
            file_id="AgAC" + secrets.token_urlsafe(24),
            file_unique_id=unique,
            data=data,
            file_path=f"{folder}/file_{next(self._counter)}.{extension}",
        )
        self.by_id[stored.file_id] = stored
        self.by_path[stored.file_path] = stored
        return stored

    def photo_sizes(self, data: bytes) -> list[JSON]:
        """Message.photo: smaller JPEG copies Telegram makes, then the original, smallest first."""
        return [self.photo_size(content, width, height) for content, (width, height) in _photo_copies(data)]

    def photo_size(self, data: bytes, width: int, height: int) -> JSON:
        stored = self.add(data, "photos", "jpg")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(data),
            "width": width,
            "height": height,
        }


@functools.lru_cache(maxsize=64)  # benchmarks send the same photos many times
def _photo_copies(data: bytes) -> tuple[tuple[bytes, tuple[int, int]], ...]:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            original_size = image.size
            copies = [_thumbnail(image, side) for _, side in THUMBNAIL_SIDES if max(image.size) > side]
    except (UnidentifiedImageError, OSError, ValueError):
        # Telegram would refuse such a photo; tests still inject one to exercise the bot's error path.
        original_size, copies = (0, 0), []
    return (*copies, (data, original_size))


def _thumbnail(image: Image.Image, side: int) -> tuple[bytes, tuple[int, int]]:
    copy = image.convert("RGB")
    copy.thumbnail((side, side))
    buffer = io.BytesIO()
    copy.save(buffer, "JPEG", quality=80)
    return buffer.getvalue(), copy.size


def image_mime_type(data: bytes) -> str | None:
    """The MIME type a client would attach to an image sent as a file (None when not an image)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return Image.MIME.get(image.format or "")
    except (UnidentifiedImageError, OSError, ValueError):
        return None
