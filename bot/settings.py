"""Bot configuration from the environment (and an optional `.env`), built once at start."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from config import MAX_PHOTO_BYTES, BotApiSettings
from moderation.verdict import MIN_HASHTAGS_RANGE, Sensitivity
from storage.settings import DatabaseSettings
from worker.settings import ServiceSettings


class BotSettings(ServiceSettings, DatabaseSettings, BotApiSettings):
    """Settings of `scenetag-bot`. BOT_TOKEN is required; the rest have working defaults."""

    # Apply Alembic migrations at start (idempotent); turn off when operators migrate separately.
    migrate_on_start: bool = True
    metrics_port: int = Field(default=9101, ge=0, le=65535)  # Prometheus scrapes /metrics here; 0: off

    # Private chats.
    default_language: Literal["en", "ru"] = "en"  # when the user's language_code is neither
    rate_limit_per_minute: int = Field(default=10, ge=1)  # photos per user per minute
    reply_timeout_seconds: float = Field(default=60.0, gt=0)  # then tell the user and drop the job
    # Show a runner-up tag when its probability is within this of the suggested tag's.
    suggest_runner_up_margin: float = Field(default=0.15, ge=0, le=1)
    max_image_bytes: int = Field(default=MAX_PHOTO_BYTES, ge=1)  # Bot API getFile's own limit

    # Group moderation defaults, copied into a chat's settings when it is first seen.
    moderation_sensitivity: Sensitivity = Sensitivity.BALANCED  # strict / balanced / lenient
    # fewer caption hashtags: never flagged; the bounds /settings and the dashboard offer
    moderation_min_hashtags: int = Field(default=2, ge=MIN_HASHTAGS_RANGE[0], le=MIN_HASHTAGS_RANGE[-1])
    # A member is trusted (their photos no longer judged against their captions) after this many clean
    # posts in a row; 0: only when an admin says so (/trust). Every group's.
    moderation_trust_after: int = Field(default=10, ge=0)
    # An album is judged as one post once none of its photos has arrived for this long (Telegram sends an
    # album's photos within a moment; one arriving later still follows the album's verdict).
    moderation_album_wait_seconds: float = Field(default=2.0, gt=0, le=60)
    admin_cache_ttl_seconds: float = Field(default=300.0, ge=0)
    # Flood control: group photos moderation would classify, per sender (a user, or the channel sent as)
    # and per chat, in a sliding minute; those over either limit are counted, not classified.
    group_rate_limit_per_user: int = Field(default=10, ge=1)
    group_rate_limit_per_chat: int = Field(default=30, ge=1)

    # Webhook mode when WEBHOOK_URL is set; polling otherwise.
    webhook_url: str | None = None  # public https URL Telegram posts to, e.g. https://bot.example.org/tg
    webhook_listen: str = "0.0.0.0"  # all interfaces: Telegram (or a proxy) connects in
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    # Required with WEBHOOK_URL: the only proof that a call to the webhook comes from Telegram.
    webhook_secret_token: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_-]{1,256}$", validate_default=True
    )

    @field_validator("webhook_secret_token")
    @classmethod
    def _secret_with_webhook(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Without it anyone who finds the URL can post updates as any user, admins included.
        if info.data.get("webhook_url") and not value:
            raise PydanticCustomError(
                "webhook_secret_required",
                "required when WEBHOOK_URL is set (1-256 of A-Z a-z 0-9 _ -; e.g. openssl rand -hex 32)",
            )
        return value
