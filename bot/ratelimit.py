"""Per-user rate limit for photos: at most N in any sliding minute. Pure; the caller passes the time."""

from __future__ import annotations

from collections import deque

WINDOW_SECONDS = 60.0
# Past this many tracked users, idle ones are dropped so memory follows active users only.
MAX_TRACKED_USERS = 10_000


class RateLimiter:
    """Sliding-window limiter keyed by user id."""

    def __init__(self, per_minute: int) -> None:
        if per_minute < 1:
            raise ValueError(f"per_minute must be >= 1, got {per_minute}")
        self._per_minute = per_minute
        self._events: dict[int, deque[float]] = {}

    def allow(self, user_id: int, now: float) -> bool:
        """Record an attempt at `now` (seconds, monotonic) and say whether it is within the limit."""
        if len(self._events) > MAX_TRACKED_USERS:
            self._forget_idle(now)
        events = self._events.setdefault(user_id, deque())
        while events and now - events[0] >= WINDOW_SECONDS:
            events.popleft()
        if len(events) >= self._per_minute:
            return False
        events.append(now)
        return True

    def retry_after(self, user_id: int, now: float) -> float:
        """Seconds until `user_id` may send again (0 when they may now)."""
        events = self._events.get(user_id)
        if not events or len(events) < self._per_minute:
            return 0.0
        return max(0.0, WINDOW_SECONDS - (now - events[0]))

    def tracked_users(self) -> int:
        return len(self._events)

    def _forget_idle(self, now: float) -> None:
        idle = [
            user for user, events in self._events.items() if not events or now - events[-1] >= WINDOW_SECONDS
        ]
        for user in idle:
            del self._events[user]
