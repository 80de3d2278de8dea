"""Run the real bot in-process against a fake Bot API server, as `scenetag-bot` would run it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.app import build_application
from bot.services import SERVICES_KEY, Services
from bot.settings import BotSettings
from tests.fake_telegram import FakeTelegram


@dataclass
class RunningBot:
    application: Application
    settings: BotSettings

    @property
    def services(self) -> Services:
        return self.application.bot_data[SERVICES_KEY]


@asynccontextmanager
async def polling_bot(telegram: FakeTelegram, data_dir: Path, **settings: Any) -> AsyncIterator[RunningBot]:
    """`build_application` exactly as `scenetag-bot` builds it, polling `telegram` until the block ends."""
    # metrics_port 0 unless asked for: tests run side by side, and one that scrapes passes a free port.
    bot_settings = BotSettings(
        **{key.lower(): value for key, value in telegram.env().items()},
        data_dir=data_dir,
        **({"metrics_port": 0} | settings),
    )
    application = build_application(bot_settings)
    await application.initialize()
    await application.post_init(application)  # run_polling would call it
    await application.updater.start_polling(poll_interval=0.0, timeout=1, allowed_updates=Update.ALL_TYPES)
    await application.start()
    try:
        yield RunningBot(application, bot_settings)
    finally:
        await application.updater.stop()
        await application.stop()
        await application.post_stop(application)  # run_polling would call it
        await application.shutdown()
        await application.post_shutdown(application)
