"""The API's per-key fixed-window rate limit: the decision alone, and counted in a real redis-server."""

from __future__ import annotations

from redis import Redis

from web.api.ratelimit import RateDecision, decide, hit, window_key

MINUTE_START = 1_800_000_000.0  # a multiple of 60: the start of a window


def test_decide_admits_up_to_the_limit_and_says_when_the_window_ends() -> None:
    assert decide(1, 3, MINUTE_START + 15) == RateDecision(True, 3, 2, 45)
    assert decide(3, 3, MINUTE_START + 15) == RateDecision(True, 3, 0, 45)
    assert decide(4, 3, MINUTE_START + 15) == RateDecision(False, 3, 0, 45)


def test_retry_after_is_whole_seconds_and_never_zero() -> None:
    assert decide(9, 1, MINUTE_START + 59.2).reset_s == 1  # 0.8 s left: wait 1, not 0
    assert decide(9, 1, MINUTE_START + 59.999).reset_s == 1
    assert decide(9, 1, MINUTE_START).reset_s == 60


def test_windows_are_per_key_and_per_minute() -> None:
    assert window_key(1, MINUTE_START) == window_key(1, MINUTE_START + 59.9)
    assert window_key(1, MINUTE_START) != window_key(1, MINUTE_START + 60)
    assert window_key(1, MINUTE_START) != window_key(2, MINUTE_START)


def test_hit_counts_in_redis_and_the_next_window_starts_afresh(redis_conn: Redis) -> None:
    now = MINUTE_START + 30
    assert [hit(redis_conn, 7, 2, now).allowed for _ in range(3)] == [True, True, False]
    assert hit(redis_conn, 8, 2, now).allowed  # another key has its own budget
    refused = hit(redis_conn, 7, 2, now + 29)
    assert (refused.allowed, refused.reset_s) == (False, 1)
    assert hit(redis_conn, 7, 2, now + 30) == RateDecision(True, 2, 1, 60)


def test_the_counter_expires_with_its_window(redis_conn: Redis) -> None:
    hit(redis_conn, 7, 2, MINUTE_START)
    assert 0 < redis_conn.ttl(window_key(7, MINUTE_START)) <= 61
