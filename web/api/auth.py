"""Who is calling and whether they may: the API key (401) and its rate limit (429), as FastAPI dependencies.

A key comes as `Authorization: Bearer KEY` or `X-API-Key: KEY` (both documented as security schemes in
the OpenAPI docs). `KeyedRoute` checks it before the body is read, so a caller without a valid key uploads
nothing; the dependency then reuses that answer. The rate limit counts in Redis through the synchronous
client, in the thread pool: one round trip, and one client for the API instead of a second, asyncio one
beside RQ's.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated

from fastapi import Depends, Request, Response, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from storage.models import ApiKey
from web.api.errors import (
    RATE_LIMITED_MESSAGE,
    UNAUTHORIZED_MESSAGE,
    ApiError,
    ApiErrorCode,
    ApiRoute,
    busy,
)
from web.api.keys import find_key
from web.api.ratelimit import RateDecision, hit
from web.api.state import api_settings, redis_client, sessionmaker

logger = logging.getLogger(__name__)

bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer KEY`")
key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="`X-API-Key: KEY`")


def clock() -> float:
    """Now, in unix seconds: a dependency, so tests can move time (`app.dependency_overrides`)."""
    return time.time()


def presented_key(credentials: HTTPAuthorizationCredentials | None, header_key: str | None) -> str | None:
    """The key from `Authorization: Bearer`, else from `X-API-Key`."""
    if credentials is not None and credentials.credentials:
        return credentials.credentials
    return header_key or None


def unauthorized() -> ApiError:
    return ApiError(401, ApiErrorCode.UNAUTHORIZED, UNAUTHORIZED_MESSAGE, {"WWW-Authenticate": "Bearer"})


async def api_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    header_key: Annotated[str | None, Security(key_header)],
) -> ApiKey:
    """The caller's active key, or 401."""
    checked = getattr(request.state, "api_key", None)
    if checked is not None:  # KeyedRoute found it before the body was read
        return checked
    key = presented_key(credentials, header_key)
    if key is None:
        raise unauthorized()
    try:
        async with sessionmaker(request)() as session:
            row = await find_key(session, key)
    except SQLAlchemyError as error:
        logger.warning("api: database unavailable for the key check: %s", error)
        raise busy() from error
    if row is None:
        raise unauthorized()
    return row


class KeyedRoute(ApiRoute):
    """An API route that refuses a request without a valid key before its body is read."""

    async def before_body(self, request: Request) -> None:
        request.state.api_key = await api_key(request, await bearer(request), await key_header(request))


def rate_headers(decision: RateDecision) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(decision.remaining),
        "X-RateLimit-Reset": str(decision.reset_s),
    }


async def limited_key(
    request: Request,
    response: Response,
    key: Annotated[ApiKey, Depends(api_key)],
    now: Annotated[float, Depends(clock)],
) -> ApiKey:
    """The caller's key once its request fits its rate limit, or 429 with Retry-After."""
    limit = key.per_minute or api_settings(request).api_rate_limit_per_minute
    try:
        decision = await run_in_threadpool(hit, redis_client(request), key.id, limit, now)
    except RedisError as error:
        logger.warning("api: rate limit unavailable: %s", error)
        raise busy() from error
    headers = rate_headers(decision)
    if not decision.allowed:
        message = RATE_LIMITED_MESSAGE.format(seconds=decision.reset_s)
        headers["Retry-After"] = str(decision.reset_s)
        raise ApiError(429, ApiErrorCode.RATE_LIMITED, message, headers)
    response.headers.update(headers)
    return key
