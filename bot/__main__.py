"""`scenetag-bot`: run the Telegram bot, by long polling or (with WEBHOOK_URL) a webhook.

Usage: BOT_TOKEN=123:abc scenetag-bot   (every variable: bot/settings.py and README)
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from telegram import Update

from bot.app import build_application
from bot.settings import BotSettings


def main() -> None:
    settings = BotSettings.from_env()
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=settings.log_level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per Bot API call otherwise
    application = build_application(settings)
    if settings.webhook_url:
        application.run_webhook(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            url_path=urlsplit(settings.webhook_url).path.lstrip("/"),
            webhook_url=settings.webhook_url,
            secret_token=settings.webhook_secret_token,
            allowed_updates=Update.ALL_TYPES,
        )
    else:
        # ALL_TYPES: chat_member updates are not sent unless asked for; they refresh the admin cache.
        application.run_polling(allowed_updates=Update.ALL_TYPES)


if __name__ == "__main__":
    main()
