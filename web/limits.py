"""`BodyLimit`: an ASGI middleware that cuts a request body off at a size limit while it is received.

Content-Length alone bounds nothing: a chunked body declares no length, and Starlette's form parser spools
whatever arrives. This counts the bytes each `http.request` message brings and raises HTTP 413 from
`receive` once they pass the limit (at the first `receive` already when the declared length does), so the
application stops reading there: the HTTP API answers 413 in its error shape (`web.api.errors.ApiRoute`),
the pages with Starlette's 413. Nothing is read before the application asks for the body, so a check that
comes first (the API key) answers without it. (FastAPI's own `max_body_size` counts the same way, but
answers a body declared over the limit with a plain-text 413 whatever the route answered, which would break
the API's documented error shape.)
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The dashboard's forms (settings, "not spam", logout) are a few hundred bytes.
PAGE_MAX_BODY_BYTES = 64 * 1024
API_PREFIX = "/v1"  # the HTTP API's paths (web.api.routes)


def declared_length(scope: Scope) -> int | None:
    """The Content-Length header as a number; None when absent or malformed."""
    value = Headers(scope=scope).get("content-length", "").strip()
    return int(value) if value.isdigit() else None


def body_limits(api_max_body_bytes: int) -> Callable[[str], int]:
    """The largest body a request to a path may send: the API's under /v1, a form's elsewhere."""

    def limit_for(path: str) -> int:
        api = path == API_PREFIX or path.startswith(API_PREFIX + "/")
        return api_max_body_bytes if api else PAGE_MAX_BODY_BYTES

    return limit_for


class BodyLimit:
    """Refuse (413) any request whose body passes `limit_for(path)` bytes, counted as it streams."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = declared_length(scope)
        received = 0

        async def counted() -> Message:
            nonlocal received
            if declared is not None and declared > limit:
                raise HTTPException(413, "Request body too large")
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, "Request body too large")
            return message

        await self.app(scope, counted, send)
