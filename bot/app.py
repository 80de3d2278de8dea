"""`build_application(settings)`: the one place the bot is wired — services, handlers, commands, and the
loop that answers photos; the only module that imports `bot.handlers`.

Where things happen: a photo update is recorded in Redis by `bot.intake` before it is confirmed; a
private photo enters in `bot.handlers.photos` (the photo on Telegram's side: `bot.attachments`), is recorded
and queued through `bot.jobs` (bot.pending, RQ -> worker); its result comes back through `bot.answers` (in
any bot process), which replies through `bot.suggest`, the text composed in `bot.replies`. A group photo
enters in `bot.handlers.moderation`; `bot.moderate` judges it once classified, by the pure
`moderation.verdict`, and acts.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from telegram import BotCommand, BotCommandScopeAllChatAdministrators, BotCommandScopeDefault
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseHandler,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.admins import AdminCache
from bot.albums import AlbumLoop, Albums
from bot.answers import AnswerLoop, deliver
from bot.callbacks import CORRECTION_PATTERN, FEEDBACK_PATTERN, SETTINGS_PATTERN, VERDICT_PATTERN
from bot.handlers import chat_admin, commands, errors, feedback, members, moderation, photos
from bot.health import schedule_heartbeat
from bot.i18n import LANGUAGES, Language, text
from bot.intake import PHOTO, IntakeLoop, RecordingQueue
from bot.jobs import PhotoJobs
from bot.metrics import METRICS_SERVER_KEY, QueueCollector
from bot.moderate_album import settle_album
from bot.pending import PendingAnswers
from bot.ratelimit import GroupFloodControl, RateLimiter
from bot.services import SERVICES_KEY, Services
from bot.settings import BotSettings
from config.clients import async_redis_client
from config.exposition import MetricsServer, serve_metrics
from moderation.hashtags import load_vocabulary
from storage.migrate import upgrade_to_head
from storage.session import create_engine, create_sessionmaker

logger = logging.getLogger(__name__)

# Updates handled at once. Photos no longer wait in their handler (the answer comes through
# bot.answers), so this bounds only downloads and database calls under way.
CONCURRENT_UPDATES = 64

_PRIVATE = filters.ChatType.PRIVATE
_GROUPS = filters.ChatType.GROUPS

HANDLERS: list[BaseHandler] = [  # type: ignore[type-arg]
    CommandHandler(["start", "help"], commands.help_command),
    CommandHandler("moderation", chat_admin.moderation),
    CommandHandler("settings", chat_admin.settings),
    CommandHandler("stats", chat_admin.stats),
    CommandHandler("trust", chat_admin.trust),
    CommandHandler("untrust", chat_admin.untrust),
    CommandHandler("spam", moderation.spam_command),
    MessageHandler(_PRIVATE & PHOTO, photos.private_photo),
    MessageHandler(_PRIVATE & filters.ATTACHMENT, photos.private_other_file),
    MessageHandler(_PRIVATE & filters.TEXT & ~filters.COMMAND, commands.help_command),
    MessageHandler(_GROUPS & PHOTO, moderation.group_photo),
    CallbackQueryHandler(feedback.feedback, pattern=FEEDBACK_PATTERN),
    CallbackQueryHandler(feedback.correction, pattern=CORRECTION_PATTERN),
    CallbackQueryHandler(moderation.verdict_button, pattern=VERDICT_PATTERN),
    CallbackQueryHandler(chat_admin.settings_button, pattern=SETTINGS_PATTERN),
    ChatMemberHandler(members.membership_changed, ChatMemberHandler.ANY_CHAT_MEMBER),
]

Response = bool | dict[str, Any] | list[dict[str, Any]]  # a Bot API call's decoded result


class FloodLimiter(AIORateLimiter):
    """PTB's limiter of Telegram's flood limits (30 messages a second overall, 20 a minute per group), which
    counts every request naming a chat; a chat action ("typing…") is not a message, so it does not wait
    for one. Counted, the one a private photo shows halves the photos a second the bot can answer: two
    requests each against the 30 a second (15 photos a second, whatever the workers serve)."""

    async def process_request(  # noqa: PLR0917 - PTB's signature
        self,
        callback: Callable[..., Coroutine[Any, Any, Response]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Response:
        if endpoint == "sendChatAction":
            return await callback(*args, **kwargs)
        return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)


USER_COMMANDS = ("start", "help", "settings")
ADMIN_COMMANDS = ("start", "help", "moderation", "settings", "stats", "spam", "trust", "untrust")


def _commands(names: tuple[str, ...], language: Language) -> list[BotCommand]:
    return [BotCommand(name, text(f"cmd_{name}", language)) for name in names]


async def _set_commands(application: Application) -> None:  # type: ignore[type-arg]
    bot = application.bot
    for language in LANGUAGES:
        code = None if language == "en" else language
        await bot.set_my_commands(_commands(USER_COMMANDS, language), BotCommandScopeDefault(), code)
        await bot.set_my_commands(
            _commands(ADMIN_COMMANDS, language), BotCommandScopeAllChatAdministrators(), code
        )


class Loop(Protocol):
    """A background loop post_init starts: the intake, the answers, the albums."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...


LOOPS_KEY = "loops"  # bot_data: the loops post_init started, in the order they stop


async def _stop_loops(application: Application) -> None:  # type: ignore[type-arg]
    """Stop taking photos, then answering them (idempotent: post_stop and post_shutdown both call it)."""
    loops: list[Loop] = application.bot_data.pop(LOOPS_KEY, [])
    for loop in loops:
        await loop.stop()


def build_application(settings: BotSettings) -> Application:  # type: ignore[type-arg]
    """The bot as `scenetag-bot` runs it (and as the end-to-end tests run it)."""
    # socket_timeout above the stream consumers' blocking reads
    redis = async_redis_client(settings.redis_url, socket_timeout=10)

    async def post_init(application: Application) -> None:  # type: ignore[type-arg]
        engine = create_engine(settings.effective_database_url)
        if settings.migrate_on_start:
            await upgrade_to_head(engine)
        pending = PendingAnswers(redis)
        jobs = PhotoJobs(settings.redis_url, pending)
        intake = IntakeLoop(redis, application)
        answer_loop = AnswerLoop(redis, pending, jobs, functools.partial(deliver, application))
        albums = Albums(redis, settings.moderation_album_wait_seconds)
        album_loop = AlbumLoop(albums, functools.partial(settle_album, application))
        application.bot_data[SERVICES_KEY] = Services(
            settings=settings,
            engine=engine,
            sessions=create_sessionmaker(engine),
            redis=redis,
            jobs=jobs,
            albums=albums,
            vocabulary=load_vocabulary(),
            admins=AdminCache(redis, settings.admin_cache_ttl_seconds),
            rate_limiter=RateLimiter(redis, settings.rate_limit_per_minute),
            group_flood=GroupFloodControl(
                redis, settings.group_rate_limit_per_user, settings.group_rate_limit_per_chat
            ),
        )
        loops: list[Loop] = [intake, answer_loop, album_loop]
        application.bot_data[LOOPS_KEY] = loops
        for loop in reversed(loops):  # photos are taken once their answers have a reader
            loop.start()
        application.bot_data[METRICS_SERVER_KEY] = serve_metrics(
            settings.metrics_port, QueueCollector(jobs.queue)
        )
        try:
            await _set_commands(application)
        except TelegramError as error:  # the menu is a convenience; serve without it
            logger.warning("set_my_commands failed: %s", error)

    async def post_stop(application: Application) -> None:  # type: ignore[type-arg]
        await _stop_loops(application)  # while the bot can still send

    async def post_shutdown(application: Application) -> None:  # type: ignore[type-arg]
        metrics_server: MetricsServer | None = application.bot_data.pop(METRICS_SERVER_KEY, None)
        if metrics_server is not None:
            metrics_server.close()
        await _stop_loops(application)
        svc: Services | None = application.bot_data.pop(SERVICES_KEY, None)
        if svc is not None:
            svc.jobs.close()
            await svc.redis.aclose()
            await svc.engine.dispose()

    application = (
        ApplicationBuilder()
        .token(settings.bot_token)
        # Photo updates are recorded in Redis before the Updater confirms them (bot.intake).
        .update_queue(RecordingQueue(redis))
        .base_url(settings.telegram_base_url)
        .base_file_url(settings.telegram_base_file_url)
        .rate_limiter(FloodLimiter(max_retries=2))
        .concurrent_updates(CONCURRENT_UPDATES)
        .post_init(post_init)
        .post_stop(post_stop)
        .post_shutdown(post_shutdown)
        .build()
    )
    application.add_handlers(HANDLERS)
    application.add_error_handler(errors.on_error)
    schedule_heartbeat(application)  # for the container's health check, `python -m bot.health`
    return application
