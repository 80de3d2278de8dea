"""The photo rate limits: a sliding minute per user (private chats), and per sender and per chat (group flood
control), in Redis, shared by every limiter on that Redis."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from bot.ratelimit import (
    WINDOW_SECONDS,
    Flooded,
    GroupFloodControl,
    RateLimiter,
    flood_notice_key,
    window_key,
)


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


async def test_group_flood_control_limits_each_sender_then_the_chat(aredis):
    flood = GroupFloodControl(aredis, per_sender=2, per_chat=3)
    group, other_group = -100, -200
    assert await flood.check(group, 1, "a", now=100.0) is None
    assert await flood.check(group, 1, "b", now=101.0) is None
    over = await flood.check(group, 1, "c", now=102.0)
    assert over == Flooded("sender", pytest.approx(58.0), notice=True)  # the chat's first refusal
    # The sender's limit holds in every group (one user flooding many); each chat has its own notice.
    assert await flood.check(other_group, 1, "d", now=102.0) == Flooded("sender", pytest.approx(58.0), True)
    assert await flood.check(group, 2, "e", now=103.0) is None  # the third of the chat's three
    assert await flood.check(group, 3, "f", now=104.0) == Flooded("chat", pytest.approx(56.0), notice=False)
    # A raid of fresh accounts: each within its own limit, all over the chat's; still one notice.
    refused = [await flood.check(group, 10 + i, f"raid-{i}", now=105.0) for i in range(20)]
    assert {over.limit for over in refused} == {"chat"} and not any(over.notice for over in refused)
    assert await flood.check(other_group, 4, "g", now=105.0) is None  # another chat has its own allowance
    assert await flood.check(group, 2, "h", now=161.0) is None  # the window slid past a and b


async def test_one_flood_notice_per_chat_and_window(aredis):
    flood = GroupFloodControl(aredis, per_sender=1, per_chat=100, window_s=60)
    await flood.check(-100, 1, "a")
    assert (await flood.check(-100, 1, "b")).notice
    assert not (await flood.check(-100, 1, "c")).notice
    assert 0 < await aredis.pttl(flood_notice_key(-100)) <= 60_000
    await aredis.delete(flood_notice_key(-100))  # what the window's end does
    assert (await flood.check(-100, 1, "d")).notice


async def test_group_windows_are_apart_from_the_private_ones(aredis):
    private, flood = RateLimiter(aredis, per_minute=1), GroupFloodControl(aredis, per_sender=1, per_chat=9)
    assert await private.check(7, "private-1") == 0.0
    assert await flood.check(-100, 7, "group-1") is None  # the user's private photo does not count here
    assert await aredis.exists(window_key(7), window_key(7, "scenetag:rate:group-sender")) == 2
