"""How values read on the pages (Jinja filters): pure functions."""

from __future__ import annotations

from datetime import UTC, datetime

from web.series import as_utc

SUPERGROUP_PREFIX = "-100"


def when(moment: datetime | None) -> str:
    return "—" if moment is None else f"{as_utc(moment):%Y-%m-%d %H:%M} UTC"


def when_ts(unix_time: float) -> str:
    return when(datetime.fromtimestamp(unix_time, UTC))


def percent(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f} %"


def milliseconds(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} ms"


def message_link(chat_id: int, message_id: int) -> str | None:
    """t.me link to a supergroup's message (members open it in Telegram); basic groups have none."""
    text = str(chat_id)
    if not text.startswith(SUPERGROUP_PREFIX):
        return None
    return f"https://t.me/c/{text.removeprefix(SUPERGROUP_PREFIX)}/{message_id}"


FILTERS = {"when": when, "when_ts": when_ts, "percent": percent, "ms": milliseconds}
GLOBALS = {"message_link": message_link}
