"""What handlers share, built once in post_init and kept in `application.bot_data`.

State that replicas must agree on (waiting photos, the rate limits, the admin cache) lives in Redis;
the database stays the record of settings, suggestions and flags.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from telegram import Chat as TelegramChat
from telegram import Message
from telegram.ext import CallbackContext

from bot.admins import AdminCache
from bot.albums import Albums
from bot.i18n import Language, pick_language
from bot.jobs import PhotoJobs
from bot.ratelimit import GroupFloodControl, RateLimiter
from bot.settings import BotSettings
from moderation.hashtags import HashtagVocabulary
from moderation.verdict import ModerationSettings
from storage import repository
from storage.models import Chat
from worker.contract import MODEL_INFO_KEY, ModelInfo

logger = logging.getLogger(__name__)
SERVICES_KEY = "services"


@dataclass
class Services:
    settings: BotSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis  # asyncio client shared by the Redis-backed parts below
    jobs: PhotoJobs
    albums: Albums
    vocabulary: HashtagVocabulary
    admins: AdminCache
    rate_limiter: RateLimiter
    group_flood: GroupFloodControl

    def language(self, language_code: str | None) -> Language:
        return pick_language(language_code, self.settings.default_language)

    def message_language(self, message: Message) -> Language:
        """The language of the message's sender (their Telegram app's), else the operator's default."""
        return self.language(message.from_user.language_code if message.from_user else None)

    @property
    def default_moderation(self) -> ModerationSettings:
        """A new chat's settings: moderation off, the operator's sensitivity and minimum."""
        return ModerationSettings(
            sensitivity=self.settings.moderation_sensitivity,
            min_hashtags=self.settings.moderation_min_hashtags,
        )

    async def model_info(self) -> ModelInfo | None:
        """What the serving model can do, as its workers published it; None before any worker started or
        when Redis does not answer."""
        try:
            raw = await self.redis.get(MODEL_INFO_KEY)
            return ModelInfo.model_validate_json(raw) if raw else None
        except (RedisError, ValidationError) as error:
            logger.warning("model info unavailable: %s", error)
            return None

    async def suggestable_tags(self) -> list[str] | None:
        """The tags the serving model can suggest; None when its info is unavailable (/help then lists every
        tag)."""
        info = await self.model_info()
        return info.tags if info else None

    async def model_input_side(self) -> int | None:
        """The side of the square the model sees; None when unknown (the bot then downloads the largest
        copy)."""
        info = await self.model_info()
        return info.input_size if info else None

    async def chat_row(self, session: AsyncSession, chat: TelegramChat) -> Chat:
        """The chat's row, created with the default settings on first sight."""
        defaults = repository.StoredModeration(**asdict(self.default_moderation))
        return await repository.ensure_chat(session, chat.id, chat.type, defaults)


def moderation_settings(chat: Chat) -> ModerationSettings:
    """The chat's moderation settings, from its row's plain values."""
    return ModerationSettings(**asdict(repository.stored_moderation(chat)))


def store_moderation_settings(chat: Chat, settings: ModerationSettings) -> None:
    repository.store_moderation(chat, repository.StoredModeration(**asdict(settings)))


def services(context: CallbackContext) -> Services:  # type: ignore[type-arg]
    return context.bot_data[SERVICES_KEY]
