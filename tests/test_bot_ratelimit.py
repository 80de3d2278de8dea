"""The photo rate limit: a sliding minute per user, in Redis, shared by every limiter on that Redis."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from bot.ratelimit import WINDOW_SECONDS, RateLimiter, window_key


@pytest.fixture
async def aredis(redis_url: str):
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_allows_n_per_sliding_minute_then_says_how_long_to_wait(aredis):
    limiter = RateLimiter(aredis, per_minute=3)
    assert [await limiter.check(7, f"u{i}", now=100.0 + i) for i in range(3)] == [0.0, 0.0, 0.0]
    assert await limiter.check(7, "u3", now=110.0) == pytest.approx(50.0)  # the first leaves at 160
    assert await limiter.check(8, "other-user", now=110.0) == 0.0
    assert await limiter.check(7, "u4", now=159.9) == pytest.approx(0.1)
    assert await limiter.check(7, "u5", now=160.0) == 0.0  # exactly one window after the first
    assert await limiter.check(7, "u6", now=160.5) == pytest.approx(0.5)  # refused attempts never count


async def test_a_redelivered_update_counts_once(aredis):
    limiter = RateLimiter(aredis, per_minute=1)
    assert await limiter.check(7, "update-1", now=100.0) == 0.0
    assert await limiter.check(7, "update-1", now=100.5) == 0.0  # the same update again: still admitted
    assert await limiter.check(7, "update-2", now=101.0) > 0


async def test_two_replicas_share_one_window(redis_url, aredis):
    other_process = Redis.from_url(redis_url)
    try:
        first, second = RateLimiter(aredis, per_minute=2), RateLimiter(other_process, per_minute=2)
        assert await first.check(7, "a", now=100.0) == 0.0
        assert await second.check(7, "b", now=101.0) == 0.0
        assert await first.check(7, "c", now=102.0) > 0
        assert await second.check(7, "d", now=102.0) > 0
    finally:
        await other_process.aclose()


async def test_an_idle_users_window_expires_from_redis(aredis):
    await RateLimiter(aredis, per_minute=5).check(7, "a")
    ttl_ms = await aredis.pttl(window_key(7))
    assert 0 < ttl_ms <= WINDOW_SECONDS * 1000


def test_rejects_a_limit_below_one():
    with pytest.raises(ValueError, match="per_minute"):
        RateLimiter(None, 0)  # type: ignore[arg-type]
