"""Every error of the HTTP API as one JSON shape, `{"error": {"code", "message"}}`, with the bot's wording.

Image errors keep the worker's codes (`worker.contract.ErrorCode`) and the bot's English texts
(`bot/i18n.py`; not imported: the web service imports nothing of the bot, and a test keeps the texts equal).
`ApiRoute` turns an `ApiError` raised anywhere in a request (a dependency, the endpoint) and FastAPI's own
validation errors into that shape, so the router needs no application-wide exception handler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from worker.contract import ErrorCode


class ApiErrorCode(StrEnum):
    """Errors of the API itself (image errors use `worker.contract.ErrorCode`)."""

    UNAUTHORIZED = "unauthorized"  # missing, unknown or revoked API key
    RATE_LIMITED = "rate_limited"  # over the key's requests per minute
    BUSY = "busy"  # no worker serves the queue, or Redis is down
    TIMEOUT = "timeout"  # no result within API_REQUEST_TIMEOUT_SECONDS
    INVALID_REQUEST = "invalid_request"  # a form field is missing or malformed


class ErrorBody(BaseModel):
    code: ErrorCode | ApiErrorCode = Field(description="Machine-readable reason; stable across releases.")
    message: str = Field(description="What went wrong, in English, for people.")


class ErrorResponse(BaseModel):
    """The body of every 4xx and 5xx answer."""

    error: ErrorBody


# The bot's English texts for the same situations (bot/i18n.py).
IMAGE_MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.EMPTY: "This file is empty.",
    ErrorCode.NOT_AN_IMAGE: "I can't read this file as an image.",
    ErrorCode.CORRUPT: "This image looks damaged or cut off. Could you send it again?",
    ErrorCode.TOO_LARGE: "This image is too large for me. Please send a smaller one.",
    ErrorCode.UNSUPPORTED: "I can't handle this image format. JPEG, PNG, WebP or GIF work.",
}
INTERNAL_MESSAGE = "Something went wrong on my side. Please try again later."
BUSY_MESSAGE = "I'm busy right now, please try again in a minute."
TIMEOUT_MESSAGE = "This is taking too long, so I gave up on this photo. Please try again later."
RATE_LIMITED_MESSAGE = "That's a lot of photos. Please wait {seconds} s and send it again."
UNAUTHORIZED_MESSAGE = (
    "Missing, unknown or revoked API key (send `Authorization: Bearer KEY` or `X-API-Key: KEY`)."
)

IMAGE_STATUS: dict[ErrorCode, int] = {
    ErrorCode.EMPTY: 422,
    ErrorCode.NOT_AN_IMAGE: 415,
    ErrorCode.CORRUPT: 422,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED: 415,
}


class ApiError(Exception):
    """Raise to answer with the error shape; `headers` e.g. Retry-After."""

    def __init__(
        self, status: int, code: ErrorCode | ApiErrorCode, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}

    def response(self) -> JSONResponse:
        body = ErrorResponse(error=ErrorBody(code=self.code, message=self.message))
        return JSONResponse(body.model_dump(mode="json"), status_code=self.status, headers=self.headers)


def image_error(code: ErrorCode | None) -> ApiError:
    """The answer for a photo the worker could not classify: the bot's text, or a 500 for our own faults
    (INTERNAL, and BAD_REQUEST: a request the API built violates the contract)."""
    if code is not None and code in IMAGE_STATUS:
        return ApiError(IMAGE_STATUS[code], code, IMAGE_MESSAGES[code])
    return ApiError(500, ErrorCode.INTERNAL, INTERNAL_MESSAGE)


def busy() -> ApiError:
    return ApiError(503, ApiErrorCode.BUSY, BUSY_MESSAGE)


def invalid_request(errors: list[Any]) -> ApiError:
    """FastAPI's validation errors in one line: `image: Field required; caption: ...`."""
    parts = [f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg')}" for e in errors]
    return ApiError(422, ApiErrorCode.INVALID_REQUEST, "; ".join(parts) or "invalid request")


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries: each status documented with the error shape."""
    return {status: {"model": ErrorResponse, "description": STATUS_DOCS[status]} for status in statuses}


STATUS_DOCS = {
    401: "`unauthorized`: missing, unknown or revoked API key.",
    413: "`too_large`: the image is over API_MAX_UPLOAD_BYTES or the worker's pixel limit.",
    415: "`not_an_image` or `unsupported`: no image decoder reads the file.",
    422: "`empty`, `corrupt`, or `invalid_request` (a form field missing or malformed).",
    429: "`rate_limited`: over the key's requests per minute; `Retry-After` says when to try again.",
    500: "`internal`: the worker failed on this photo.",
    503: "`busy`: no worker is running, or Redis is down.",
    504: "`timeout`: no result within API_REQUEST_TIMEOUT_SECONDS (the job is dropped).",
}


class ApiRoute(APIRoute):
    """Answers `ApiError`s and FastAPI's request errors with `ErrorResponse`. `before_body` runs before
    FastAPI reads the body (`web.limits.BodyLimit` bounds it as it streams: a 413 raised from `receive`)."""

    async def before_body(self, request: Request) -> None:
        """A check that needs no body (`web.api.auth.KeyedRoute`: the API key); raise `ApiError` to refuse."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                await self.before_body(request)
                return await handler(request)
            except ApiError as error:
                return error.response()
            except RequestValidationError as error:
                return invalid_request(list(error.errors())).response()
            except HTTPException as error:  # a body that does not parse, or over the size limit
                if error.status_code == 413:
                    return image_error(ErrorCode.TOO_LARGE).response()
                return ApiError(error.status_code, ApiErrorCode.INVALID_REQUEST, str(error.detail)).response()

        return guarded
