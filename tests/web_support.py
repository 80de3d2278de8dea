"""Shared by the web tests: a migrated database filled with real rows, the login link the Telegram Login
Widget would redirect to (signed with the test bot's token, as Telegram signs it), and for the browser tests
`scenetag-web` as its own process and a headless chromium to read it with."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import httpx
import pytest
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.migrate import upgrade_to_head
from storage.models import Chat, Flag, Suggestion
from storage.session import create_engine, create_sessionmaker
from tests.fake_telegram import FakeTelegram
from tests.services import end_process, free_port, wait_for
from web.auth import login_hash

if TYPE_CHECKING:
    from selenium.webdriver import Chrome
    from selenium.webdriver.remote.webelement import WebElement

SESSION_SECRET = "test-session-secret-of-at-least-32-chars"
MODEL_A, MODEL_B = "a1b2c3d4e5f6", "0f9e8d7c6b5a"


@dataclass(frozen=True)
class Seeded:
    club: int  # a supergroup with moderation on and flags
    quiet: int  # a basic group, moderation off, no flags
    private: int  # a private chat (suggestions only; never listed)


@asynccontextmanager
async def migrated(url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(url)
    await upgrade_to_head(engine)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


def chat(chat_id: int, chat_type: str, photos: int, enabled: bool) -> Chat:
    return Chat(
        id=chat_id,
        type=chat_type,
        photos_seen=photos,
        moderation_enabled=enabled,
        moderation_mode="flag",
        moderation_sensitivity="balanced",
        moderation_min_hashtags=2,
    )


async def seed(sessions: async_sessionmaker[AsyncSession], now: datetime, club: int, quiet: int) -> Seeded:
    """Chats, suggestions over the last day (two model versions, 👍/👎) and flags with an admin's verdict."""
    private = 777

    def minutes(n: int) -> datetime:
        return now - timedelta(minutes=n)

    async with sessions.begin() as session:
        session.add_all([chat(club, "supergroup", 40, True), chat(quiet, "group", 3, False)])
        session.add(chat(private, "private", 12, False))
        await session.flush()
        # Model A: 6 #cafe in the last hour (latency 100..600 ms, 4 rated: 3 up), 2 abstentions; model B
        # earlier in the day: 3 #water (1 up of 2 rated).
        a_hour = [
            (
                "cafe",
                100.0 * (n + 1),
                minutes(5 + n),
                ("up", "up", "up", "down", None, None)[n],
            )
            for n in range(6)
        ]
        a_abstained = [(None, 2000.0, minutes(20 + n), None) for n in range(2)]
        for tag, latency, at, feedback in [*a_hour, *a_abstained]:
            session.add(suggestion(private, tag, MODEL_A, latency=latency, at=at, feedback=feedback))
        for n, feedback in enumerate(("up", "down", None)):
            at = now - timedelta(hours=5 + n)
            session.add(suggestion(private, "water", MODEL_B, latency=900.0, at=at, feedback=feedback))
        # Outside the last day: counted per version, not in the latency windows.
        session.add(
            suggestion(private, "water", MODEL_B, latency=50.0, at=now - timedelta(days=3), feedback=None)
        )
        session.add_all(
            [
                flag(club, 11, ["beach", "sport"], "cafe", confidence=0.91, action="flag", at=minutes(30)),
                flag(
                    club,
                    12,
                    ["forest"],
                    "bar",
                    confidence=0.77,
                    action="flag",
                    at=minutes(10),
                    verdict_by=5001,
                ),
                flag(
                    club, 13, ["snow", "church"], "street", confidence=0.64, action="record", at=minutes(120)
                ),
            ]
        )
    return Seeded(club, quiet, private)


def suggestion(
    chat_id: int, tag: str | None, version: str, *, latency: float, at: datetime, feedback: str | None
) -> Suggestion:
    return Suggestion(
        chat_id=chat_id,
        user_id=chat_id,
        file_unique_id="AgADBAAD",
        tag=tag,
        confidence=0.8,
        model_version=version,
        latency_ms=latency,
        feedback=feedback,
        created_at=at,
    )


def flag(
    chat_id: int,
    message_id: int,
    caption_tags: list[str],
    predicted: str,
    *,
    confidence: float,
    action: str,
    at: datetime,
    verdict_by: int | None = None,
) -> Flag:
    return Flag(
        chat_id=chat_id,
        message_id=message_id,
        user_id=9000 + message_id,
        caption_tags=caption_tags,
        predicted_tag=predicted,
        confidence=confidence,
        compatible_probability=0.0015,
        action=action,
        admin_verdict="not_spam" if verdict_by else None,
        verdict_by=verdict_by,
        created_at=at,
    )


def login_query(token: str, user_id: int, first_name: str, auth_date: int) -> str:
    """The query string the Login Widget redirects to /auth/telegram with."""
    fields = {"id": str(user_id), "first_name": first_name, "auth_date": str(auth_date)}
    return urlencode(fields | {"hash": login_hash(fields, token)})


# -- the dashboard in a real browser -----------------------------------------------------------------------

CHROMIUM = os.environ.get("TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
WEB_START_TIMEOUT_S = 60.0
PAGE_TIMEOUT_S = 30.0


@dataclass
class WebProcess:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def start_web(
    directory: Path, telegram: FakeTelegram, *, database_url: str, redis_url: str, operator_ids: Iterable[int]
) -> WebProcess:
    """`scenetag-web` on a free port against `telegram`, once it answers /healthz (blocks until then: the
    caller runs it off the fake Bot API's event loop). Stop it with `stop_web`."""
    port = free_port()
    env = {
        **os.environ,
        "BOT_TOKEN": telegram.token,
        "BOT_USERNAME": telegram.bot.username or "",
        "TELEGRAM_BASE_URL": telegram.base_url,
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "WEB_SESSION_SECRET": SESSION_SECRET,
        "WEB_OPERATOR_IDS": ",".join(str(user_id) for user_id in operator_ids),
        "WEB_PORT": str(port),
        "WEB_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "PYTHONUNBUFFERED": "1",
    }
    log_path = directory / "web.log"
    with log_path.open("wb") as log:
        # cwd: an empty folder, so a developer's .env does not leak in; `python -m web` is scenetag-web.
        process = subprocess.Popen(
            [sys.executable, "-m", "web"], env=env, cwd=directory, stdout=log, stderr=log
        )
    web = WebProcess(f"http://127.0.0.1:{port}", process, log_path)
    try:
        wait_for(lambda: answers(web), WEB_START_TIMEOUT_S, "scenetag-web to answer /healthz")
    except BaseException:
        stop_web(web)
        raise
    return web


def answers(web: WebProcess) -> bool:
    if web.process.poll() is not None:
        pytest.fail(f"scenetag-web exited with {web.process.returncode}:\n{web.log()[-4000:]}")
    try:
        return httpx.get(f"{web.url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def stop_web(web: WebProcess) -> None:
    status = end_process(web.process, 10)
    print(f"----- scenetag-web log (exit {status}) -----\n{web.log()[-6000:]}")


def browser_missing() -> str | None:
    """Why no browser test can run here, or None."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).is_file()]
    if not missing:
        return None
    return (
        f"{', '.join(missing)} missing: install Debian's chromium and its driver "
        "(apt-get install chromium chromium-driver; scripts/test.sh does it when missing)"
    )


@contextmanager
def chromium(directory: Path) -> Iterator[Chrome]:
    """Headless chromium through chromedriver, with its profile in `directory`; skips the test when either is
    missing."""
    reason = browser_missing()
    if reason:
        pytest.skip(reason)
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the [dev] extra")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1400"):
        options.add_argument(argument)
    options.add_argument(f"--user-data-dir={directory / 'chromium-profile'}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    try:
        yield driver
    finally:
        driver.quit()


def log_in(driver: Chrome, web_url: str, token: str, user_id: int, first_name: str) -> None:
    """Open the link the Login Widget sends a logged-in user to (a fresh session, whoever was logged in)."""
    query = login_query(token, user_id, first_name, int(time.time()))
    driver.get(f"{web_url}/auth/telegram?{query}")


def click_and_wait(driver: Chrome, element: WebElement) -> None:
    """Click a link or a submit button and wait until the new page has loaded: reading the page in between
    sees the old one, or an element that goes stale under the reader (a flaky failure)."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    old = driver.find_element("tag name", "html")
    element.click()
    wait = WebDriverWait(driver, PAGE_TIMEOUT_S)
    wait.until(expected_conditions.staleness_of(old))
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")


def page_text(driver: Chrome) -> str:
    return driver.find_element("tag name", "body").text  # By.TAG_NAME (selenium is imported lazily)


def assert_rendered(driver: Chrome, path: Path) -> None:
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
