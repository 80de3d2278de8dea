"""Who changed a chat's moderation settings from the dashboard, and how: the last changes per chat in Redis.

The schema has no column for it (the database keeps the settings themselves); a capped list per chat is what
the chat page shows, and every change is also logged.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from redis.asyncio import Redis

from moderation.verdict import ModerationSettings

KEPT_CHANGES = 50


def audit_key(chat_id: int) -> str:
    return f"scenetag:web:settings-log:{chat_id}"


@dataclass(frozen=True)
class SettingsChange:
    at: float  # unix time
    user_id: int
    user_name: str
    changes: tuple[str, ...]  # e.g. "mode: flag → delete"


def describe_changes(before: ModerationSettings, after: ModerationSettings) -> tuple[str, ...]:
    """One "field: old → new" line per setting that changed."""
    lines = []
    for field in ("enabled", "mode", "sensitivity", "min_hashtags"):
        old, new = getattr(before, field), getattr(after, field)
        if old != new:
            lines.append(f"{field.replace('_', ' ')}: {_shown(old)} → {_shown(new)}")
    return tuple(lines)


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


async def record_change(redis: Redis, chat_id: int, change: SettingsChange) -> None:
    async with redis.pipeline(transaction=True) as pipe:
        pipe.lpush(audit_key(chat_id), json.dumps(asdict(change)))
        pipe.ltrim(audit_key(chat_id), 0, KEPT_CHANGES - 1)
        await pipe.execute()


async def recent_changes(redis: Redis, chat_id: int, limit: int = 20) -> list[SettingsChange]:
    raw = await redis.lrange(audit_key(chat_id), 0, limit - 1)
    changes = []
    for item in raw:
        data = json.loads(item)
        changes.append(SettingsChange(data["at"], data["user_id"], data["user_name"], tuple(data["changes"])))
    return changes
