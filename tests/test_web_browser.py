"""The dashboard in a real headless browser: `scenetag-web` runs as its own process on a free port against a
database filled with real rows, Debian's chromium (driven by chromedriver through selenium) logs in through
the link Telegram's Login Widget redirects to, reads the overview and a group's page, saves a settings change
through the form, and screenshots each page to check that it rendered (not a blank or unstyled page).

Skips only when chromium or chromedriver is missing (scripts/test.sh installs Debian's `chromium` and
`chromium-driver`; TEST_CHROMIUM / TEST_CHROMEDRIVER point elsewhere)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from storage.models import Chat
from storage.session import create_engine, create_sessionmaker
from tests.fake_telegram import FakeTelegram
from tests.web_support import (
    Seeded,
    WebProcess,
    assert_rendered,
    chromium,
    click_and_wait,
    log_in,
    migrated,
    page_text,
    seed,
    start_web,
    stop_web,
)

OPERATOR_ID = 1

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the [dev] extra")
from selenium.webdriver.common.by import By  # noqa: E402


@dataclass
class RunningWeb:
    web: WebProcess
    database_url: str
    seeded: Seeded
    telegram: FakeTelegram

    @property
    def url(self) -> str:
        return self.web.url


@pytest.fixture
def fake_telegram() -> Iterator[tuple[FakeTelegram, asyncio.AbstractEventLoop]]:
    """The fake Bot API on its own event loop in a thread: the web process calls it while the test blocks."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    telegram = asyncio.run_coroutine_threadsafe(FakeTelegram().start(), loop).result(10)
    yield telegram, loop
    asyncio.run_coroutine_threadsafe(telegram.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@pytest.fixture
def running_web(
    tmp_path: Path, redis_url: str, fake_telegram: tuple[FakeTelegram, asyncio.AbstractEventLoop]
) -> Iterator[RunningWeb]:
    telegram, loop = fake_telegram
    club, quiet = telegram.new_group("Photo club"), telegram.new_group("Quiet corner")
    asyncio.run_coroutine_threadsafe(telegram.set_admins(club, [telegram.new_user("Alice")]), loop).result(10)
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'web.sqlite3'}"

    async def fill() -> Seeded:
        async with migrated(database_url) as sessions:
            return await seed(sessions, datetime.now(UTC), club.id, quiet.id)

    seeded = asyncio.run(fill())
    web = start_web(
        tmp_path, telegram, database_url=database_url, redis_url=redis_url, operator_ids=[OPERATOR_ID]
    )
    try:
        yield RunningWeb(web, database_url, seeded, telegram)
    finally:
        stop_web(web)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    with chromium(tmp_path) as driver:
        yield driver


@pytest.mark.slow
def test_operator_reads_the_dashboard_and_changes_a_setting(
    running_web: RunningWeb, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    log_in(browser, running_web.url, running_web.telegram.token, OPERATOR_ID, "Olga")
    assert browser.current_url == f"{running_web.url}/"
    text = page_text(browser)
    assert "Overview" in text and "Olga" in text and "operator" in text
    assert "Photos waiting" in text and "Last hour" in text
    assert "a1b2c3d4e5f6" in text and "#cafe" in text and "75 %" in text
    bars = browser.find_elements(By.CSS_SELECTOR, "svg.chart rect.volume")
    assert len(bars) == 48 and any(bar.size["height"] > 0 for bar in bars)
    assert browser.find_elements(By.CSS_SELECTOR, "svg.chart .line-p95")  # drawn where photos were answered
    assert_rendered(browser, tmp_path / "overview.png")

    click_and_wait(browser, browser.find_element(By.LINK_TEXT, "Groups"))
    assert "Quiet corner" in page_text(browser)
    click_and_wait(browser, browser.find_element(By.LINK_TEXT, "Photo club"))
    text = page_text(browser)
    assert "Photo club" in text
    assert "#beach" in text and "#forest" in text and "#snow" in text
    assert "not spam — by user 5001" in text
    assert_rendered(browser, tmp_path / "chat.png")

    browser.find_element(By.CSS_SELECTOR, 'input[name="mode"][value="delete"]').click()
    browser.find_element(By.CSS_SELECTOR, 'input[name="sensitivity"][value="lenient"]').click()
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "form.settings button[type=submit]"))
    text = page_text(browser)
    assert "Settings saved." in text
    assert "by Olga (1): mode: flag → delete; sensitivity: balanced → lenient" in text

    async def stored() -> Chat:
        engine = create_engine(running_web.database_url)
        try:
            async with create_sessionmaker(engine)() as session:
                chat = await session.get(Chat, running_web.seeded.club)
                assert chat is not None
                return chat
        finally:
            await engine.dispose()

    chat = asyncio.run(stored())
    assert (chat.moderation_mode, chat.moderation_sensitivity, chat.moderation_enabled) == (
        "delete",
        "lenient",
        True,
    )
