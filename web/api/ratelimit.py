"""Per-key rate limit: at most N requests in each clock minute, counted in Redis so that every API
process enforces the same budget.

A fixed window (one counter per key and minute, `INCR` then `EXPIRE` in one MULTI transaction): O(1)
memory per key and one round trip, and the client can be told exactly when its budget refills
(`Retry-After`, `X-RateLimit-Reset`), as the big public APIs do. The price is a burst of up to 2N around
a minute boundary, which an integration API can afford; the bot's per-user limit is a sliding window
because there a burst is spam in a chat. Requests over the limit are counted too: a client hammering
through its 429s stays limited until the window ends, never longer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from redis import Redis

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int  # requests per window
    remaining: int  # requests left in this window after this one
    reset_s: int  # whole seconds until the window ends (Retry-After when not allowed)


def window_index(now: float, window_s: int = WINDOW_SECONDS) -> int:
    return math.floor(now / window_s)


def decide(count: int, limit: int, now: float, window_s: int = WINDOW_SECONDS) -> RateDecision:
    """The verdict on the `count`-th request (1-based) of the window that holds `now`."""
    reset_s = max(1, math.ceil((window_index(now, window_s) + 1) * window_s - now))
    return RateDecision(count <= limit, limit, max(0, limit - count), reset_s)


def window_key(key_id: int, now: float, window_s: int = WINDOW_SECONDS) -> str:
    return f"scenetag:api:rate:{key_id}:{window_index(now, window_s)}"


def hit(redis: Redis, key_id: int, limit: int, now: float, window_s: int = WINDOW_SECONDS) -> RateDecision:
    """Count one request of API key `key_id` at `now` (unix seconds) and decide it. Synchronous (one
    round trip): call it from the thread pool."""
    key = window_key(key_id, now, window_s)
    with redis.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, window_s + 1)  # the key names its window: it only has to outlive it
        count, _ = pipe.execute()
    return decide(int(count), limit, now, window_s)
