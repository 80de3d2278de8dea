"""A small FastAPI app around `web.api.router` for tests, with the state the web app's lifespan would set,
and a migrated SQLite database with API keys."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from redis import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.migrate import upgrade_to_head
from storage.session import create_engine
from web.api import router
from web.api.settings import ApiSettings
from web.limits import BodyLimit, body_limits


def api_app(redis_url: str, sessions: async_sessionmaker[AsyncSession], settings: ApiSettings) -> FastAPI:
    app = FastAPI()
    app.include_router(router)
    app.add_middleware(BodyLimit, limit_for=body_limits(settings.api_max_body_bytes))  # as web.app's
    # Fails fast on a dead Redis, as the web app's client should.
    app.state.redis = Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)
    app.state.sessionmaker = sessions
    app.state.api_settings = settings
    return app


async def migrated_database(directory: Path) -> AsyncEngine:
    engine = create_engine(f"sqlite+aiosqlite:///{directory / 'api.sqlite3'}")
    await upgrade_to_head(engine)
    return engine

