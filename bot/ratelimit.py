"""Per-user rate limit for photos: at most N in any sliding minute, counted in Redis so that every bot
replica enforces the same window.

One sorted set per user (`scenetag:rate:<user id>`), members the attempts' ids (the update id, so a
redelivered update is not counted twice), scores their times. One Lua script drops what left the
window, and admits the attempt only when fewer than N remain: check and record are one atomic step,
so two replicas cannot both admit the N+1st photo. The key expires with its window, so memory follows
active users only.
"""

from __future__ import annotations

import time

from redis.asyncio import Redis

WINDOW_SECONDS = 60.0

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


def window_key(user_id: int) -> str:
    return f"scenetag:rate:{user_id}"


class RateLimiter:
    """Sliding-window limiter keyed by user id, shared by every process using the same Redis."""

    def __init__(self, redis: Redis, per_minute: int, window_s: float = WINDOW_SECONDS) -> None:
        if per_minute < 1:
            raise ValueError(f"per_minute must be >= 1, got {per_minute}")
        self._per_minute = per_minute
        self._window_ms = round(window_s * 1000)
        self._script = redis.register_script(_SLIDING_WINDOW)

    async def check(self, user_id: int, attempt_id: str, now: float | None = None) -> float:
        """Record attempt `attempt_id` at `now` (unix seconds; default: this machine's clock) and return
        0.0 when it is within the limit, else the seconds until the user may send again."""
        now_ms = round((time.time() if now is None else now) * 1000)
        args = [now_ms, self._window_ms, self._per_minute, attempt_id]
        wait_ms = await self._script(keys=[window_key(user_id)], args=args)
        return int(wait_ms) / 1000
