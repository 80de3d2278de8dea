"""Rate limits for photos: at most N in any sliding minute, counted in Redis so that every bot replica
enforces the same window. Private chats: per user (`RateLimiter`). Groups (`GroupFloodControl`): per
sender and per chat, on the photos moderation would classify, so one raid cannot fill the queue that
private users and the HTTP API share.

One sorted set per key (`scenetag:rate:<user id>`; groups: `scenetag:rate:group-sender:<id>` and
`scenetag:rate:group-chat:<id>`), members the attempts' ids (the update id, so a redelivered update is
not counted twice), scores their times. One Lua script drops what left the
window, and admits the attempt only when fewer than N remain: check and record are one atomic step,
so two replicas cannot both admit the N+1st photo. The key expires with its window, so memory follows
active users only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from redis.asyncio import Redis

WINDOW_SECONDS = 60.0
PRIVATE_PREFIX = "scenetag:rate"

# KEYS[1] the user's window; ARGV: now (ms), window (ms), limit, attempt id.
# Returns 0 when admitted, else the milliseconds until the oldest attempt leaves the window.
_SLIDING_WINDOW = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZSCORE', KEYS[1], ARGV[4]) then return 0 end
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""


def window_key(key_id: int, prefix: str = PRIVATE_PREFIX) -> str:
    return f"{prefix}:{key_id}"


def flood_notice_key(chat_id: int) -> str:
    return f"scenetag:flood-notice:{chat_id}"


class RateLimiter:
    """Sliding-window limiter keyed by an id (a user's, by default), shared by every process using the same
    Redis; `prefix` keeps limiters of different things apart."""

    def __init__(
        self, redis: Redis, per_minute: int, window_s: float = WINDOW_SECONDS, prefix: str = PRIVATE_PREFIX
    ) -> None:
        if per_minute < 1:
            raise ValueError(f"per_minute must be >= 1, got {per_minute}")
        self._per_minute = per_minute
        self._window_ms = round(window_s * 1000)
        self._prefix = prefix
        self._script = redis.register_script(_SLIDING_WINDOW)

    async def check(self, key_id: int, attempt_id: str, now: float | None = None) -> float:
        """Record attempt `attempt_id` at `now` (unix seconds; default: this machine's clock) and return
        0.0 when it is within the limit, else the seconds until `key_id` may send again."""
        now_ms = round((time.time() if now is None else now) * 1000)
        args = [now_ms, self._window_ms, self._per_minute, attempt_id]
        wait_ms = await self._script(keys=[window_key(key_id, self._prefix)], args=args)
        return int(wait_ms) / 1000


@dataclass(frozen=True)
class Flooded:
    """A group photo over a limit: which one, for how long, and whether this is the chat's first refusal
    in the window (the one that may post a notice)."""

    limit: Literal["sender", "chat"]
    wait_s: float
    notice: bool


class GroupFloodControl:
    """Per-sender and per-chat sliding windows on the group photos moderation would classify. The sender
    (a user, or the channel a message is sent as) is checked first, so one flooding sender is cut off
    before it uses up the chat's allowance for everyone else."""

    def __init__(
        self, redis: Redis, per_sender: int, per_chat: int, window_s: float = WINDOW_SECONDS
    ) -> None:
        self._redis = redis
        self._window_ms = round(window_s * 1000)
        self._senders = RateLimiter(redis, per_sender, window_s, prefix=f"{PRIVATE_PREFIX}:group-sender")
        self._chats = RateLimiter(redis, per_chat, window_s, prefix=f"{PRIVATE_PREFIX}:group-chat")

    async def check(
        self, chat_id: int, sender_id: int, attempt_id: str, now: float | None = None
    ) -> Flooded | None:
        """None when the photo is within both limits (and counted in both), else what it is over."""
        limit: Literal["sender", "chat"] = "sender"
        wait_s = await self._senders.check(sender_id, attempt_id, now)
        if not wait_s:
            limit, wait_s = "chat", await self._chats.check(chat_id, attempt_id, now)
        if not wait_s:
            return None
        # At most one notice per chat and window, however many senders are over their limits.
        first = await self._redis.set(flood_notice_key(chat_id), attempt_id, nx=True, px=self._window_ms)
        return Flooded(limit, wait_s, notice=bool(first))
