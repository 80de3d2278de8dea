"""`build_app(settings)`: the dashboard's FastAPI application, with every shared client made in its lifespan.

Shared clients on `app.state` (for this package's pages and for routers included beside them):
`settings`, `engine` + `sessionmaker` (async SQLAlchemy, `storage.session`), `redis` (sync, for RQ's API,
used in a worker thread), `redis_async` (caches, the settings log), `http` + `telegram` (the Bot API),
`templates`. Include another router with one line: `app.include_router(router)`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.middleware.sessions import SessionMiddleware
from swagger_ui_bundle import swagger_ui_path

from config.clients import async_redis_client, redis_client
from storage.session import create_engine, create_sessionmaker
from web import api
from web.auth import SESSION_MAX_AGE_S
from web.formatting import FILTERS, GLOBALS
from web.limits import BodyLimit, body_limits
from web.metrics import REQUESTS
from web.settings import WebSettings
from web.telegram import BotApi, TelegramUnavailable
from web.views import LoginRequired, PageError, render, router

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("web.access")

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "scenetag_session"
TELEGRAM_TIMEOUT_S = 10.0
DOCS_ASSETS = "/docs-assets"  # Swagger UI's files (swagger-ui-bundle)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: WebSettings = app.state.settings
    app.state.engine = create_engine(settings.effective_database_url)
    app.state.sessionmaker = create_sessionmaker(app.state.engine)
    # An unreachable Redis answers 503 instead of hanging a request.
    app.state.redis = redis_client(settings.redis_url)
    app.state.redis_async = async_redis_client(settings.redis_url)
    app.state.http = httpx.AsyncClient(timeout=TELEGRAM_TIMEOUT_S)
    app.state.telegram = BotApi(
        app.state.http,
        app.state.redis_async,
        settings.telegram_base_url,
        settings.bot_token,
        settings.web_admin_cache_seconds,
    )
    try:
        yield
    finally:
        await app.state.http.aclose()
        await app.state.redis_async.aclose()
        app.state.redis.close()
        await app.state.engine.dispose()


async def api_docs(request: Request) -> Response:
    """Swagger UI for the HTTP API, its scripts and styles served from this app."""
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title="scenetag HTTP API",
        swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
    )


def build_app(settings: WebSettings) -> FastAPI:
    # The API docs' scripts come from the swagger-ui-bundle package, not FastAPI's default CDN: /docs works on
    # a closed network too.
    app = FastAPI(title="scenetag", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.api_settings = settings  # the HTTP API's limits (web.api reads them here)
    app.state.templates = Jinja2Templates(directory=HERE / "templates")
    app.state.templates.env.filters.update(FILTERS)
    app.state.templates.env.globals.update(GLOBALS)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.web_session_secret,
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE_S,
        same_site="lax",  # with the CSRF token: no cross-site POST carries the session
        https_only=settings.secure_cookies,
    )
    # Every body is bounded as it streams, before any handler reads it. Inside count_and_protect: a 413
    # raised from receive must reach the app's exception handling directly, not through BaseHTTPMiddleware's
    # task group (which would wrap it in an ExceptionGroup).
    app.add_middleware(BodyLimit, limit_for=body_limits(settings.api_max_body_bytes))
    app.middleware("http")(count_and_protect)
    app.add_exception_handler(LoginRequired, to_login)
    app.add_exception_handler(PageError, page_error)
    app.add_exception_handler(TelegramUnavailable, telegram_unavailable)
    app.include_router(router)
    app.include_router(api.router)
    app.add_api_route("/healthz", healthz, methods=["GET"], include_in_schema=False)
    app.add_api_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.mount(DOCS_ASSETS, StaticFiles(directory=swagger_ui_path), name="docs-assets")
    app.add_api_route("/docs", api_docs, methods=["GET"], include_in_schema=False)
    return app


async def count_and_protect(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Count and log each request; two headers safe for every answer (pages add their CSP). The access log
    is this one (uvicorn's is off: it writes the query string, and a Telegram login link's is a credential),
    so it names the path alone."""
    response = await call_next(request)
    route = request.scope.get("route")
    path = getattr(route, "path", None) or "other"  # unmatched paths share one label value
    REQUESTS.labels(request.method, path, str(response.status_code)).inc()
    client = request.client.host if request.client else "-"
    access_logger.info('%s "%s %s" %d', client, request.method, request.url.path, response.status_code)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


async def to_login(request: Request, exc: Exception) -> Response:
    return RedirectResponse("/login", status_code=303)


async def page_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    return render(request, "error.html", status=exc.status, message=exc.message)


async def telegram_unavailable(request: Request, exc: Exception) -> Response:
    logger.warning("Bot API unavailable: %s", exc)
    message = (
        "Telegram's Bot API did not answer, so who administers which group is unknown. Try again shortly."
    )
    return render(request, "error.html", status=503, message=message)


async def metrics(request: Request) -> Response:
    # A route, not prometheus_client's make_asgi_app() mounted: a mount answers /metrics with a redirect.
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


async def healthz(request: Request) -> Response:
    """200 when Redis and the database answer (compose's health check), else 503 naming what failed."""
    failed = []
    try:
        await request.app.state.redis_async.ping()
    except RedisError:
        failed.append("redis")
    try:
        async with request.app.state.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError):
        failed.append("database")
    return JSONResponse({"ok": not failed, "failed": failed}, status_code=503 if failed else 200)
