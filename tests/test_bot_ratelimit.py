from __future__ import annotations

import pytest

from bot.ratelimit import MAX_TRACKED_USERS, WINDOW_SECONDS, RateLimiter


def test_allows_the_limit_then_refuses_until_the_window_slides():
    limiter = RateLimiter(per_minute=3)
    assert [limiter.allow(1, t) for t in (0.0, 1.0, 2.0, 3.0)] == [True, True, True, False]
    assert limiter.retry_after(1, 3.0) == pytest.approx(WINDOW_SECONDS - 3.0)
    assert not limiter.allow(1, 59.9)
    assert limiter.allow(1, 60.0)  # the first attempt left the window
    assert not limiter.allow(1, 60.5)


def test_refused_attempts_do_not_extend_the_wait():
    limiter = RateLimiter(per_minute=1)
    assert limiter.allow(1, 0.0)
    for t in range(1, 60):
        assert not limiter.allow(1, float(t))
    assert limiter.allow(1, 60.0)


def test_users_are_independent():
    limiter = RateLimiter(per_minute=1)
    assert limiter.allow(1, 0.0)
    assert limiter.allow(2, 0.0)
    assert not limiter.allow(1, 0.0)
    assert limiter.retry_after(2, 0.0) > 0
    assert limiter.retry_after(3, 0.0) == 0


def test_idle_users_are_forgotten_past_the_bound():
    limiter = RateLimiter(per_minute=5)
    for user in range(MAX_TRACKED_USERS + 1):
        limiter.allow(user, 0.0)
    limiter.allow(-1, WINDOW_SECONDS + 1)
    assert limiter.tracked_users() == 1


def test_rejects_a_zero_limit():
    with pytest.raises(ValueError, match="per_minute"):
        RateLimiter(0)
