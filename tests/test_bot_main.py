"""`scenetag-bot`: configuration errors are one line; polling by default, webhook behind WEBHOOK_URL."""

from __future__ import annotations

import asyncio

import pytest
from telegram import Update
from telegram.ext import AIORateLimiter, Application

from bot.__main__ import main
from bot.app import HANDLERS, FloodLimiter, build_application
from bot.handlers.errors import on_error
from bot.intake import RecordingQueue
from bot.settings import BotSettings

TOKEN = "123456:ABC-def_ghi"


@pytest.fixture
def environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no developer .env
    for name in ("BOT_TOKEN", "WEBHOOK_URL", "WEBHOOK_SECRET_TOKEN", "DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    return monkeypatch


@pytest.fixture
def runs(monkeypatch):
    calls: dict[str, dict] = {}

    def record(name):
        def run(self, **kwargs):
            calls[name] = kwargs

        return run

    monkeypatch.setattr(Application, "run_polling", record("polling"))
    monkeypatch.setattr(Application, "run_webhook", record("webhook"))
    return calls


def test_missing_token_is_one_clear_line(environment, runs):
    with pytest.raises(SystemExit) as exit_info:
        main()
    message = str(exit_info.value)
    assert message.startswith("configuration error: BOT_TOKEN")
    assert "\n" not in message
    assert runs == {}


@pytest.mark.parametrize(
    ("variable", "value"),
    [("RATE_LIMIT_PER_MINUTE", "0"), ("WEBHOOK_SECRET_TOKEN", "has spaces"), ("DEFAULT_LANGUAGE", "de")],
)
def test_bad_values_name_the_variable(environment, runs, variable, value):
    environment.setenv("BOT_TOKEN", TOKEN)
    environment.setenv(variable, value)
    with pytest.raises(SystemExit, match=variable):
        main()


def test_a_webhook_without_a_secret_token_is_refused_at_start(environment, runs):
    environment.setenv("BOT_TOKEN", TOKEN)
    environment.setenv("WEBHOOK_URL", "https://bot.example.org/tg/hook")
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert str(exit_info.value) == (
        "configuration error: WEBHOOK_SECRET_TOKEN: required when WEBHOOK_URL is set "
        "(1-256 of A-Z a-z 0-9 _ -; e.g. openssl rand -hex 32)"
    )
    assert runs == {}
    environment.setenv("WEBHOOK_SECRET_TOKEN", "")  # empty means unset (the compose default)
    with pytest.raises(SystemExit, match="WEBHOOK_SECRET_TOKEN: required"):
        main()


def test_polls_by_default_asking_for_chat_member_updates(environment, runs):
    environment.setenv("BOT_TOKEN", TOKEN)
    main()
    assert runs == {"polling": {"allowed_updates": Update.ALL_TYPES}}


def test_webhook_when_configured(environment, runs):
    environment.setenv("BOT_TOKEN", TOKEN)
    environment.setenv("WEBHOOK_URL", "https://bot.example.org/tg/hook")
    environment.setenv("WEBHOOK_SECRET_TOKEN", "s3cret_token")
    environment.setenv("WEBHOOK_PORT", "9000")
    main()
    webhook = runs["webhook"]
    assert (webhook["url_path"], webhook["port"], webhook["secret_token"]) == (
        "tg/hook",
        9000,
        "s3cret_token",
    )
    assert webhook["webhook_url"] == "https://bot.example.org/tg/hook"
    assert "polling" not in runs


def test_build_application_wires_everything_in_one_place():
    settings = BotSettings(
        bot_token=TOKEN,
        telegram_base_url="http://127.0.0.1:1/bot",
        telegram_base_file_url="http://127.0.0.1:1/f",
    )
    application = build_application(settings)
    assert application.handlers[0] == HANDLERS
    assert application.error_handlers.keys() == {on_error}
    assert application.bot.base_url == f"http://127.0.0.1:1/bot{TOKEN}"
    assert isinstance(application.bot.rate_limiter, AIORateLimiter)
    assert application.concurrent_updates > 1
    # Photo updates are recorded before PTB's Updater confirms them (polling offset, webhook 200).
    assert isinstance(application.update_queue, RecordingQueue)
    assert application.updater is not None and application.updater.update_queue is application.update_queue


async def test_a_chat_action_does_not_wait_for_the_overall_flood_limit():
    limiter = FloodLimiter(overall_max_rate=1, overall_time_period=3600)  # one message an hour
    sent: list[str] = []

    async def call(endpoint: str) -> bool:
        async def request() -> bool:
            sent.append(endpoint)
            return True

        return await limiter.process_request(request, (), {}, endpoint, {"chat_id": 42}, None)

    assert await call("sendMessage")
    assert await asyncio.wait_for(call("sendChatAction"), timeout=5)  # not a message: not held back
    with pytest.raises(TimeoutError):  # the next message waits for the limit, as before
        await asyncio.wait_for(call("sendMessage"), timeout=0.5)
    assert sent == ["sendMessage", "sendChatAction"]
