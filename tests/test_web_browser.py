"""The dashboard in a real headless browser: `scenetag-web` runs as its own process on a free port against a
database filled with real rows, Debian's chromium (driven by chromedriver through selenium) logs in through
the link Telegram's Login Widget redirects to, reads the overview and a group's page, saves a settings change
through the form, and screenshots each page to check that it rendered (not a blank or unstyled page).

Skips only when chromium or chromedriver is missing (scripts/test.sh installs Debian's `chromium` and
`chromium-driver`; TEST_CHROMIUM / TEST_CHROMEDRIVER point elsewhere)."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from PIL import Image

from storage.models import Chat
from storage.session import create_engine, create_sessionmaker
from tests.fake_telegram import FakeTelegram
from tests.services import free_port, wait_for
from tests.web_support import SESSION_SECRET, Seeded, login_query, migrated, seed

CHROMIUM = os.environ.get("TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
OPERATOR_ID = 1
START_TIMEOUT_S = 60.0
PAGE_TIMEOUT_S = 30.0

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the [dev] extra")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402


@dataclass
class RunningWeb:
    url: str
    database_url: str
    seeded: Seeded
    telegram: FakeTelegram
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


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
    port = free_port()
    env = {
        **os.environ,
        "BOT_TOKEN": telegram.token,
        "BOT_USERNAME": telegram.bot.username or "",
        "TELEGRAM_BASE_URL": telegram.base_url,
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "WEB_SESSION_SECRET": SESSION_SECRET,
        "WEB_OPERATOR_IDS": str(OPERATOR_ID),
        "WEB_PORT": str(port),
        "WEB_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "PYTHONUNBUFFERED": "1",
    }
    log_path = tmp_path / "web.log"
    with log_path.open("wb") as log:
        # cwd: an empty folder, so a developer's .env does not leak in; `python -m web` is scenetag-web.
        process = subprocess.Popen(
            [sys.executable, "-m", "web"], env=env, cwd=tmp_path, stdout=log, stderr=log
        )
    web = RunningWeb(f"http://127.0.0.1:{port}", database_url, seeded, telegram, process, log_path)
    try:
        wait_for(lambda: answers(web), START_TIMEOUT_S, "scenetag-web to answer /healthz")
        yield web
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        print(f"----- scenetag-web log (exit {process.returncode}) -----\n{web.log()[-6000:]}")


def answers(web: RunningWeb) -> bool:
    if web.process.poll() is not None:
        pytest.fail(f"scenetag-web exited with {web.process.returncode}:\n{web.log()[-4000:]}")
    try:
        return httpx.get(f"{web.url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).is_file()]
    if missing:
        pytest.skip(
            f"{', '.join(missing)} missing: install Debian's chromium and its driver "
            "(apt-get install chromium chromium-driver; scripts/test.sh does it when missing)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1400"):
        options.add_argument(argument)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    try:
        yield driver
    finally:
        driver.quit()


def page_text(driver: webdriver.Chrome) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def assert_rendered(driver: webdriver.Chrome, path: Path) -> None:
    """The screenshot is a styled page with content: many colours, plenty of non-white pixels."""
    png = driver.get_screenshot_as_png()
    path.write_bytes(png)  # kept in the test's tmp dir for a look when this fails
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.width >= 1000 and image.height >= 600
    colours = image.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 200, f"only {len(colours)} colours: a blank or unstyled page ({path})"
    pixels = image.width * image.height
    white = sum(count for count, rgb in colours if min(rgb) >= 245)
    assert white / pixels < 0.85, f"{white / pixels:.0%} of the page is white ({path})"
    header = image.getpixel((5, 5))  # the dark header bar: the stylesheet loaded
    assert max(header) < 100, f"header pixel {header}: style.css did not apply ({path})"


@pytest.mark.slow
def test_operator_reads_the_dashboard_and_changes_a_setting(
    running_web: RunningWeb, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    query = login_query(running_web.telegram.token, OPERATOR_ID, "Olga", int(time.time()))
    browser.get(f"{running_web.url}/auth/telegram?{query}")  # where the widget sends a logged-in user
    assert browser.current_url == f"{running_web.url}/"
    text = page_text(browser)
    assert "Overview" in text and "Olga" in text and "operator" in text
    assert "Photos waiting" in text and "Last hour" in text
    assert "a1b2c3d4e5f6" in text and "#cafe" in text and "75 %" in text
    bars = browser.find_elements(By.CSS_SELECTOR, "svg.chart rect.volume")
    assert len(bars) == 48 and any(bar.size["height"] > 0 for bar in bars)
    assert browser.find_elements(By.CSS_SELECTOR, "svg.chart .line-p95")  # drawn where photos were answered
    assert_rendered(browser, tmp_path / "overview.png")

    browser.find_element(By.LINK_TEXT, "Groups").click()
    assert "Quiet corner" in page_text(browser)
    browser.find_element(By.LINK_TEXT, "Photo club").click()
    text = page_text(browser)
    assert "Photo club" in text
    assert "#beach" in text and "#forest" in text and "#snow" in text
    assert "not spam — by user 5001" in text
    assert_rendered(browser, tmp_path / "chat.png")

    browser.find_element(By.CSS_SELECTOR, 'input[name="mode"][value="delete"]').click()
    browser.find_element(By.CSS_SELECTOR, 'input[name="sensitivity"][value="lenient"]').click()
    browser.find_element(By.CSS_SELECTOR, "form.settings button[type=submit]").click()
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
