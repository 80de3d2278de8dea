"""web.limits.BodyLimit (bodies bounded as they stream) and the API's key check before the body: a chunked
body (no Content-Length) is cut off at the limit, and a request without a valid key is refused before a byte
of its body is read. Driven at the ASGI level, so the test sees how much of the body the app pulled."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.session import create_sessionmaker
from tests.api_support import api_app, migrated_database
from web.api.keys import create_key
from web.api.settings import FORM_OVERHEAD_BYTES, ApiSettings
from web.limits import PAGE_MAX_BODY_BYTES, body_limits

CHUNK = 16 * 1024
LIMIT = 100_000
BOUNDARY = "scenetagboundary"
PART_HEAD = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n'
    "Content-Type: image/jpeg\r\n\r\n"
).encode()


async def post(app: FastAPI, path: str, total: int, *headers: tuple[bytes, bytes]) -> tuple[int, int]:
    """POST a chunked multipart body of about `total` bytes; (status, body bytes the app pulled)."""
    pulled = 0
    left = total
    first = True
    status = 0

    async def receive() -> dict[str, object]:
        nonlocal pulled, left, first
        body = PART_HEAD if first else bytes(min(CHUNK, left))
        first = False
        left -= len(body)
        pulled += len(body)
        return {"type": "http.request", "body": body, "more_body": left > 0}

    async def send(message: dict[str, object]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])  # type: ignore[call-overload]

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "client": ("127.0.0.1", 1), "server": ("api", 80),
        "headers": [
            (b"host", b"api"), (b"transfer-encoding", b"chunked"),
            (b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()), *headers,
        ],
    }
    await app(scope, receive, send)
    return status, pulled


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = await migrated_database(tmp_path)
    yield create_sessionmaker(engine)
    await engine.dispose()


def api(redis_url: str, sessions: async_sessionmaker[AsyncSession]) -> FastAPI:
    return api_app(redis_url, sessions, ApiSettings(api_max_upload_bytes=LIMIT))


async def test_a_chunked_body_without_a_key_is_401_and_never_read(redis_url, sessions) -> None:
    status, pulled = await post(api(redis_url, sessions), "/v1/classify", 10 * LIMIT)
    assert (status, pulled) == (401, 0)


async def test_a_chunked_body_with_a_bad_key_is_401_and_never_read(redis_url, sessions) -> None:
    bad_key = (b"x-api-key", b"stk_nope")
    status, pulled = await post(api(redis_url, sessions), "/v1/check", 10 * LIMIT, bad_key)
    assert (status, pulled) == (401, 0)


async def test_a_chunked_body_over_the_limit_with_a_key_is_cut_off_at_the_limit(redis_url, sessions) -> None:
    async with sessions.begin() as session:
        _, key = await create_key(session, "tests", None)
    app = api(redis_url, sessions)
    status, pulled = await post(app, "/v1/classify", 10 * LIMIT, (b"authorization", f"Bearer {key}".encode()))
    assert status == 413
    assert pulled <= LIMIT + FORM_OVERHEAD_BYTES + CHUNK  # not the 1 MB sent


async def test_a_declared_length_over_the_limit_is_refused_before_reading(redis_url, sessions) -> None:
    async with sessions.begin() as session:
        _, key = await create_key(session, "tests", None)
    declared = (b"content-length", str(10 * LIMIT).encode())
    status, pulled = await post(api(redis_url, sessions), "/v1/classify", 10 * LIMIT, declared,
                                (b"authorization", f"Bearer {key}".encode()))
    assert (status, pulled) == (413, 0)


def test_limits_per_path() -> None:
    limit_for = body_limits(LIMIT)
    assert limit_for("/v1/classify") == limit_for("/v1") == LIMIT
    assert limit_for("/logout") == limit_for("/v1x") == PAGE_MAX_BODY_BYTES
