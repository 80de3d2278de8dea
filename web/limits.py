"""`BodyLimit`: an ASGI middleware that cuts a request body off at a size limit while it is received.

Content-Length alone bounds nothing: a chunked body declares no length, and Starlette's form parser spools
whatever arrives. This counts the bytes each `http.request` message brings and raises HTTP 413 from
`receive` once they pass the limit (at the first `receive` already when the declared length does), so the
application stops reading there: the HTTP API answers 413 in its error shape (`web.api.errors.ApiRoute`),
the pages with Starlette's 413. Nothing is read before the application asks for the body, so a check that
comes first (the API key) answers without it.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The dashboard's forms (settings, "not spam", logout) are a few hundred bytes.
PAGE_MAX_BODY_BYTES = 64 * 1024
# The HTTP API's paths; its bodies may carry an image of API_MAX_UPLOAD_BYTES plus the multipart framing and
# the form's text fields around it.
API_PREFIX = "/v1"
FORM_OVERHEAD_BYTES = 64 * 1024
TOO_LARGE = "Request body too large"


def body_limits(api_max_upload_bytes: int) -> Callable[[str], int]:
    """The largest body a request to a path may send: the API's upload limit under /v1, a form's elsewhere."""

    def limit_for(path: str) -> int:
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            return api_max_upload_bytes + FORM_OVERHEAD_BYTES
        return PAGE_MAX_BODY_BYTES

    return limit_for


def declared_length(scope: Scope) -> int | None:
    """The Content-Length header as a number, None when absent or malformed."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


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
                raise HTTPException(413, TOO_LARGE)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, TOO_LARGE)
            return message

        await self.app(scope, counted, send)
