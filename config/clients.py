"""Redis clients, built one way for every process: a dead Redis fails fast on connect instead of hanging a
user, and a pooled connection that a Redis restart closed is retried on a fresh one, not reported."""

from __future__ import annotations

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from config import redact_url

CONNECT_TIMEOUT_S = 2.0
RETRIES = 3
RETRIED = [RedisConnectionError, RedisTimeoutError]


def backoff() -> ExponentialBackoff:
    return ExponentialBackoff(cap=0.5, base=0.05)


def redis_client(url: str, *, socket_timeout: float | None = 5.0) -> redis.Redis:
    """A blocking client (the worker and RQ, the `ml` registry commands, the HTTP API's job client)."""
    return redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=socket_timeout,
                                retry=Retry(backoff(), RETRIES), retry_on_error=RETRIED)


def async_redis_client(url: str, *, socket_timeout: float | None = 5.0) -> redis.asyncio.Redis:
    """An asyncio client (the bot, the dashboard). `socket_timeout` must exceed its blocking reads' time."""
    return redis.asyncio.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S,
                                        socket_timeout=socket_timeout, retry=AsyncRetry(backoff(), RETRIES),
                                        retry_on_error=RETRIED)


def connected(url: str, *, socket_timeout: float | None = 5.0) -> redis.Redis:
    """A blocking client for `url` once it answered a PING, or exit with one line naming the URL without its
    password."""
    client = redis_client(url, socket_timeout=socket_timeout)
    try:
        client.ping()
    except RedisError as exc:
        raise SystemExit(f"cannot reach Redis at REDIS_URL={redact_url(url)}: {exc}") from None
    return client
