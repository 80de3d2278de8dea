"""Settings of `scenetag-web`, from the environment (and an optional `.env`), built once at start."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from config import BotApiSettings
from storage.settings import DatabaseSettings
from web.api.settings import ApiSettings
from worker.settings import ServiceSettings


class WebSettings(ServiceSettings, DatabaseSettings, BotApiSettings, ApiSettings):
    """BOT_TOKEN (checks Telegram's login signature, asks who administers a chat) and WEB_SESSION_SECRET are
    required; the rest have working defaults."""

    # The bot's @username without the @: the Login Widget is the bot's (BotFather /setdomain).
    bot_username: str = Field(default="", pattern=r"^[A-Za-z0-9_]{0,32}$")
    # Signs the session cookie: anyone who knows it can log in as anyone. At least 32 characters.
    web_session_secret: str = Field(min_length=32)
    # Telegram user ids with the operator role (every chat, the service overview): "1,2" or "[1, 2]".
    web_operator_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    web_listen: str = "127.0.0.1"  # loopback by default: put a TLS proxy in front for the public
    web_port: int = Field(default=9103, ge=1, le=65535)
    # The URL users reach the dashboard at (the widget's redirect target); https turns on secure cookies.
    web_public_url: str = Field(default="http://127.0.0.1:9103", pattern=r"^https?://")
    # Seconds a "is this user an admin of that chat" answer from the Bot API is reused (in Redis).
    web_admin_cache_seconds: int = Field(default=60, ge=0)
    # A login link is accepted this many seconds after Telegram signed it, and only once: a link is meant to
    # be followed at once; one found later in a browser history or a proxy's log opens nothing.
    web_login_max_age_seconds: int = Field(default=600, ge=60, le=86400)

    @field_validator("web_operator_ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        # NoDecode: the raw string arrives here, so "1,2" (what operators write) and JSON both work.
        if isinstance(value, str):
            text = value.strip().strip("[]")
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @property
    def secure_cookies(self) -> bool:
        return self.web_public_url.startswith("https://")
