"""What the API reads from `request.app.state`, named in one place: the web app's lifespan sets these.

- `redis`: a synchronous `redis.Redis` (RQ's client is synchronous; every call runs in the thread pool),
- `sessionmaker`: an `async_sessionmaker` from `storage.session.create_sessionmaker`,
- `api_settings`: the `ApiSettings` (the web app's settings object, which inherits from it).
"""

from __future__ import annotations

from redis import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection

from web.api.settings import ApiSettings


def api_settings(connection: HTTPConnection) -> ApiSettings:
    return connection.app.state.api_settings


def redis_client(connection: HTTPConnection) -> Redis:
    return connection.app.state.redis


def sessionmaker(connection: HTTPConnection) -> async_sessionmaker[AsyncSession]:
    return connection.app.state.sessionmaker
