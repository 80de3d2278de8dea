"""The dashboard in a real browser with data from a real run (issue 14): the real bot and worker answer a
private photo (rated 👍) and flag a contradicting caption in two groups with different admins; then
`scenetag-web` runs as its own process on the bot's database, the module's Redis and the fake Bot API, and
headless chromium logs in as one group's admin (sees only that group) and as the operator (sees the run's
model version, its latency and every group).

The fake Bot API runs on the module's event loop and the web process calls it (getChatMember, getChat), so
every blocking step (starting the process, each browser session) runs in a thread via `asyncio.to_thread`.
Skips only when chromium or chromedriver is missing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from bot.i18n import text
from storage.models import Flag, Suggestion
from tests.e2e.conftest import Sample, Workers, buttons
from tests.e2e.running_bot import RunningBot
from tests.fake_telegram import FakeTelegram
from tests.fake_telegram.objects import Chat, User
from tests.web_support import (
    WebProcess,
    assert_rendered,
    browser_missing,
    chromium,
    click_and_wait,
    log_in,
    page_text,
    start_web,
    stop_web,
)
from web.formatting import milliseconds, percent

pytest.importorskip("selenium.webdriver", reason="selenium is in the [dev] extra")
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

BROWSER_MISSING = browser_missing()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.asyncio(loop_scope="module"),
    # Checked before the module's worker and bot start: without a browser there is nothing to look at.
    pytest.mark.skipif(BROWSER_MISSING is not None, reason=BROWSER_MISSING or ""),
]

CLASSIFY_TIMEOUT_S = 60.0  # a photo through Redis and the CPU worker on a busy 2-core machine
NOT_FOUND = "There is no such group among the ones you administer."


@dataclass(frozen=True)
class GroupRun:
    chat: Chat
    admin: User
    flag: Flag  # as the bot stored it when it flagged the photo
    notice: dict  # the bot's reply to the photo, with its "not spam" button


@dataclass(frozen=True)
class RealRun:
    suggestion: Suggestion
    club: GroupRun  # Alice's; she marked its flag "not spam"
    other: GroupRun  # Bob's; its flag has no verdict
    operator: User


async def flagged_group(
    telegram: FakeTelegram, bot: RunningBot, sample: Sample, title: str, admin_name: str
) -> GroupRun:
    """A group whose admin turns moderation on, and a member's photo the bot flags for its caption."""
    group, admin, member = telegram.new_group(title), telegram.new_user(admin_name), telegram.new_user("Cleo")
    await telegram.set_admins(group, [admin])
    sent = await telegram.send_command(group, admin, "/moderation on")
    panel = await telegram.wait_for_message(group.id, after_message_id=sent["message_id"])
    assert "is on" in panel["text"]
    posted = await telegram.send_group_photo(group, member, sample.photo, sample.contradicting)
    notice = await telegram.wait_for_message(
        group.id,
        lambda m: m.get("reply_to_message", {}).get("message_id") == posted["message_id"],
        timeout=CLASSIFY_TIMEOUT_S,
    )
    not_spam, _ = buttons(notice)
    async with bot.services.sessions() as session:
        flag = await session.get(Flag, int(not_spam["callback_data"].split(":")[1]))
    assert flag is not None and (flag.message_id, flag.action) == (posted["message_id"], "flag")
    assert flag.predicted_tag == sample.tag
    assert ["#" + tag for tag in flag.caption_tags] == sample.contradicting.split()
    return GroupRun(group, admin, flag, notice)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def real_run(telegram: FakeTelegram, bot: RunningBot, sample: Sample) -> RealRun:
    # A private photo, answered by the worker's model and rated 👍.
    pavel = telegram.new_user("Pavel")
    sent = await telegram.send_private_photo(pavel, sample.photo)
    reply = await telegram.wait_for_message(
        pavel.id, lambda m: "text" in m, after_message_id=sent["message_id"], timeout=CLASSIFY_TIMEOUT_S
    )
    up, _ = buttons(reply)
    query_id = await telegram.press_button(reply, up["callback_data"], pavel)
    await telegram.wait_for_call("answerCallbackQuery", lambda p: p["callback_query_id"] == query_id)
    async with bot.services.sessions() as session:
        suggestion = await session.get(Suggestion, int(up["callback_data"].split(":")[1]))
    assert suggestion is not None and (suggestion.tag, suggestion.feedback) == (sample.tag, "up")
    assert suggestion.model_version and suggestion.latency_ms > 0

    # Alice's group: its admin tells the bot the flag was wrong.
    club = await flagged_group(telegram, bot, sample, "Photo club", "Alice")
    not_spam, _ = buttons(club.notice)
    query_id = await telegram.press_button(club.notice, not_spam["callback_data"], club.admin)
    answer = await telegram.wait_for_call("answerCallbackQuery", lambda p: p["callback_query_id"] == query_id)
    assert answer["text"] == text("not_spam_recorded", "en")
    # Bob's group: Alice is not even a member there.
    other = await flagged_group(telegram, bot, sample, "Other club", "Bob")
    return RealRun(suggestion, club, other, telegram.new_user("Olga"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def web(
    telegram: FakeTelegram,
    bot: RunningBot,
    workers: Workers,
    real_run: RealRun,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[WebProcess]:
    """`scenetag-web` on the bot's own database and Redis, asking the fake Bot API who administers what."""
    process = await asyncio.to_thread(
        start_web,
        tmp_path_factory.mktemp("e2e-web"),
        telegram,
        database_url=bot.settings.effective_database_url,
        redis_url=workers.redis_url,
        operator_ids=[real_run.operator.id],
    )
    try:
        yield process
    finally:
        await asyncio.to_thread(stop_web, process)


def cells(row: WebElement) -> list[str]:
    """A table row's cells (th and td), as shown."""
    return [cell.text for cell in row.find_elements(By.XPATH, "./th|./td")]


def rows_by_name(driver: Chrome, table: str) -> dict[str, list[str]]:
    """The body rows of the tables matching the CSS selector `table`, by their first cell."""
    rows = [cells(row) for row in driver.find_elements(By.CSS_SELECTOR, f"{table} tbody tr")]
    return {row[0]: row[1:] for row in rows}


async def test_an_admin_sees_only_their_group_with_its_real_flag(
    telegram: FakeTelegram, web: WebProcess, real_run: RealRun, sample: Sample, tmp_path: Path
) -> None:
    club, other = real_run.club, real_run.other

    def browse() -> None:
        with chromium(tmp_path) as browser:
            log_in(browser, web.url, telegram.token, club.admin.id, club.admin.first_name)
            assert browser.current_url == f"{web.url}/chats"  # the overview is the operator's
            groups = rows_by_name(browser, "table.list")
            assert list(groups) == ["Photo club"]  # not "Other club": Telegram says Bob administers it
            # Photos, moderation, mode, sensitivity, flags, marked not spam.
            assert groups["Photo club"][:6] == ["1", "on", "flag", "balanced", "1", "1"]

            click_and_wait(browser, browser.find_element(By.LINK_TEXT, "Photo club"))
            assert browser.current_url == f"{web.url}/chats/{club.chat.id}"
            row = cells(browser.find_element(By.ID, f"flag-{club.flag.id}"))
            assert row[1] == f"#{club.flag.message_id}"
            assert row[2].split() == sample.contradicting.split()
            assert row[3:-1] == [
                f"#{sample.tag}",
                percent(club.flag.confidence),
                percent(club.flag.compatible_probability, 2),
                "flag",
            ]
            # The verdict given, and the other button.
            assert row[-1].split() == ["not", "spam", "—", "by", "you", "Spam"]
            assert_rendered(browser, tmp_path / "admin-chat.png")

            browser.get(f"{web.url}/chats/{other.chat.id}")  # the URL typed in: still not hers
            text = page_text(browser)
            assert NOT_FOUND in text and "Other club" not in text

    await asyncio.to_thread(browse)


async def test_the_operator_sees_the_runs_model_latency_and_every_group(
    telegram: FakeTelegram, web: WebProcess, real_run: RealRun, sample: Sample, tmp_path: Path
) -> None:
    suggestion = real_run.suggestion
    latency = milliseconds(suggestion.latency_ms)  # the only photo answered: every percentile is it

    def browse() -> None:
        with chromium(tmp_path) as browser:
            log_in(browser, web.url, telegram.token, real_run.operator.id, real_run.operator.first_name)
            assert browser.current_url == f"{web.url}/"
            text = page_text(browser)
            assert "Overview" in text and "operator" in text
            tiles = {
                tile.find_element(By.CLASS_NAME, "label").text: tile.find_element(By.CLASS_NAME, "value").text
                for tile in browser.find_elements(By.CLASS_NAME, "tile")
            }
            assert tiles["Workers"] == "1" and tiles["Photos waiting"] == "0"  # the module's real worker
            answered = rows_by_name(browser, "table.numbers")
            assert answered["Last hour"][0] == "1" and answered["Last hour"][2:] == [latency] * 3
            assert answered["Last 24 hours"][0] == "1"
            bars = browser.find_elements(By.CSS_SELECTOR, "svg.chart rect.volume")
            assert sum(bar.size["height"] > 0 for bar in bars) == 1
            version = browser.find_element(By.XPATH, f"//h3[code='{suggestion.model_version}']")
            table = version.find_element(By.XPATH, "following-sibling::table[1]")
            assert [cells(row) for row in table.find_elements(By.CSS_SELECTOR, "tbody tr")] == [
                [f"#{sample.tag}", "1", "1", "1", "100 %"]
            ]
            assert_rendered(browser, tmp_path / "overview.png")

            click_and_wait(browser, browser.find_element(By.LINK_TEXT, "Groups"))
            groups = rows_by_name(browser, "table.list")
            assert sorted(groups) == ["Other club", "Photo club"]  # Pavel's private chat is no group
            assert groups["Photo club"][4:6] == ["1", "1"] and groups["Other club"][4:6] == ["1", "0"]
            assert_rendered(browser, tmp_path / "groups.png")

            click_and_wait(browser, browser.find_element(By.LINK_TEXT, "Other club"))
            row = cells(browser.find_element(By.ID, f"flag-{real_run.other.flag.id}"))
            assert row[-2] == "flag"
            # No verdict yet: both buttons, and the operator may block the picture in every group.
            assert row[-1].split() == ["Not", "spam", "in", "every", "group", "Spam"]

    await asyncio.to_thread(browse)
