"""Who is logged in and what they may see: pure functions, no I/O.

The Telegram Login Widget check, exactly as Telegram documents it (core.telegram.org/widgets/login,
"Checking authorization"): the data-check-string is every received field except `hash`, as `key=value`
lines sorted by key and joined by "\\n"; the secret key is SHA256(bot token); the data is Telegram's when
`hash` is the hex HMAC-SHA256 of the data-check-string under that key. `auth_date` older than the allowed
age is refused, so a leaked login link stops working; the dashboard also remembers each accepted link's hash
until then (`used_login_key`, `replay_window_s`), so a link logs in once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

# getChatMember statuses that administer a chat.
ADMIN_STATUSES = frozenset({"creator", "administrator"})
# A dashboard session (its signed cookie, and its key in Redis) lasts this long at most.
SESSION_MAX_AGE_S = 7 * 24 * 3600
# Telegram's clock and ours may disagree a little; more than this in the future is a forgery or a bug.
CLOCK_SKEW_S = 300


class LoginError(ValueError):
    """A login that must be refused; the message is safe to show."""


class Role(StrEnum):
    OPERATOR = "operator"  # every chat and the service overview (WEB_OPERATOR_IDS)
    ADMIN = "admin"  # the chats the Bot API says they administer; none for everyone else


@dataclass(frozen=True)
class TelegramUser:
    """The logged-in Telegram user, as the widget vouched for them."""

    id: int
    first_name: str
    username: str | None = None

    @property
    def display_name(self) -> str:
        return f"{self.first_name} (@{self.username})" if self.username else self.first_name


def data_check_string(fields: Mapping[str, str]) -> str:
    return "\n".join(f"{key}={fields[key]}" for key in sorted(fields) if key != "hash")


def login_hash(fields: Mapping[str, str], bot_token: str) -> str:
    """The hash Telegram signs the widget's fields with (what a valid login carries)."""
    secret_key = hashlib.sha256(bot_token.encode()).digest()
    return hmac.new(secret_key, data_check_string(fields).encode(), hashlib.sha256).hexdigest()


def verify_login(fields: Mapping[str, str], bot_token: str, *, now: float, max_age_s: int) -> TelegramUser:
    """The user the widget's redirect fields vouch for, or LoginError saying why not."""
    received = fields.get("hash")
    if not received or "id" not in fields or "auth_date" not in fields:
        raise LoginError("The login link is incomplete: log in with the Telegram button again.")
    if not hmac.compare_digest(login_hash(fields, bot_token), received.lower()):
        raise LoginError("The login link is not signed by Telegram for this bot.")
    try:
        user_id, auth_date = int(fields["id"]), int(fields["auth_date"])
    except ValueError:
        raise LoginError("The login link is malformed.") from None
    if now - auth_date > max_age_s:
        raise LoginError("The login link has expired: log in with the Telegram button again.")
    if auth_date - now > CLOCK_SKEW_S:
        raise LoginError("The login link is dated in the future: check this server's clock.")
    return TelegramUser(user_id, fields.get("first_name", ""), fields.get("username") or None)


def used_login_key(fields: Mapping[str, str]) -> str:
    """The Redis key that remembers an accepted login link (by its hash) until the link expires."""
    return f"scenetag:web:used-login:{fields['hash'].lower()}"


def replay_window_s(fields: Mapping[str, str], *, now: float, max_age_s: int) -> int:
    """How long a verified link could still be accepted: until `auth_date + max_age_s` (at least 1 s)."""
    return max(1, int(int(fields["auth_date"]) + max_age_s - now) + 1)


def session_key(session_id: str) -> str:
    """The Redis key that keeps a dashboard session alive; logout deletes it, and the cookie then opens
    nothing (the cookie is signed, not secret: deleting it in the browser alone would not end it)."""
    return f"scenetag:web:session:{session_id}"


def new_session_id() -> str:
    return secrets.token_urlsafe(24)


def role_for(user_id: int, operator_ids: frozenset[int]) -> Role:
    return Role.OPERATOR if user_id in operator_ids else Role.ADMIN


def is_admin_status(status: str) -> bool:
    return status in ADMIN_STATUSES


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_ok(session_token: str | None, submitted: str | None) -> bool:
    """Whether a form carries the session's CSRF token (compared in constant time)."""
    return bool(session_token and submitted) and hmac.compare_digest(str(session_token), str(submitted))
