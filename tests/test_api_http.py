"""The HTTP API end to end: httpx against the router, a real worker process on a private redis-server, and
a migrated SQLite database of API keys."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from redis import Redis
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.replies import error_text
from ml.tags import ALL_LABELS, OTHER
from moderation.verdict import MIN_HASHTAGS_RANGE
from storage.session import create_sessionmaker
from tests.api_support import api_app, migrated_database
from tests.services import free_port
from tests.test_worker_e2e import bomb_png
from web.api.auth import clock
from web.api.keys import create_key, generate_key, revoke_key
from web.api.settings import ApiSettings
from worker.contract import ErrorCode
from worker.queue import photo_queue

pytestmark = pytest.mark.slow
SAMPLES = Path(__file__).resolve().parent.parent / "ml" / "samples"
CAFE = (SAMPLES / "coffee_shop.jpg").read_bytes()
SETTINGS = ApiSettings()
BUSY = "I'm busy right now, please try again in a minute."
NOT_JUDGED = "#beach"  # fewer hashtags than the default minimum: /v1/check answers without the worker


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = await migrated_database(tmp_path)
    yield create_sessionmaker(engine)
    await engine.dispose()


async def new_key(sessions: async_sessionmaker[AsyncSession], per_minute: int | None = None) -> str:
    async with sessions.begin() as session:
        _, key = await create_key(session, "tests", per_minute)
    return key


@pytest.fixture
async def key(sessions: async_sessionmaker[AsyncSession]) -> str:
    return await new_key(sessions)


def app_for(redis_url: str, sessions: async_sessionmaker[AsyncSession], **settings: object) -> FastAPI:
    return api_app(redis_url, sessions, ApiSettings(**settings))  # type: ignore[arg-type]


Sessions = async_sessionmaker[AsyncSession]


def client(redis_url: str, sessions: Sessions, **settings: object) -> httpx.AsyncClient:
    return served(app_for(redis_url, sessions, **settings))


def served(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def photo(data: bytes = CAFE, name: str = "photo.jpg") -> dict[str, tuple[str, bytes, str]]:
    return {"image": (name, data, "image/jpeg")}


def error_of(response: httpx.Response) -> dict[str, str]:
    return response.json()["error"]


async def test_classify_returns_the_workers_result(module_redis_url, module_worker, sessions, key) -> None:
    async with client(module_redis_url, sessions) as api:
        response = await api.post("/v1/classify", files=photo(), headers=auth(key))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["version"] == 1 and body["request_id"]
    assert set(body["probabilities"]) == set(ALL_LABELS)
    assert sum(body["probabilities"].values()) == pytest.approx(1, abs=1e-3)
    assert body["hashtag"] in ALL_LABELS  # the shipped model may abstain on a sample: no tag asserted
    assert body["confidence"] == pytest.approx(body["probabilities"][body["hashtag"]])
    assert body["abstained"] is (body["suggested"] is None)
    offered = [item["tag"] for item in body["suggestions"]]
    assert offered[:1] == ([body["suggested"]] if body["suggested"] else []) and OTHER not in offered
    ranked = [item["tag"] for item in body["runner_ups"]]
    assert len(ranked) <= 3 and body["hashtag"] not in ranked and OTHER not in ranked
    assert [body["probabilities"][tag] for tag in ranked] == sorted(
        (body["probabilities"][tag] for tag in ranked), reverse=True
    )
    assert body["model_version"] and body["model_name"] and body["tta"] == 1 and body["scenes"]
    assert response.headers["X-RateLimit-Limit"] == str(SETTINGS.api_rate_limit_per_minute)
    assert response.headers["X-RateLimit-Remaining"] == str(SETTINGS.api_rate_limit_per_minute - 1)


async def test_concurrent_requests_each_get_their_own_photos_result(
    module_redis_url, module_worker, sessions, key
) -> None:
    names = ["coast", "coffee_shop", "ski_slope"] * 2
    async with client(module_redis_url, sessions) as api:

        def classify(name: str) -> Awaitable[httpx.Response]:
            image = (SAMPLES / f"{name}.jpg").read_bytes()
            return api.post("/v1/classify", files=photo(image), headers=auth(key))

        alone = {name: (await classify(name)).json()["probabilities"] for name in set(names)}
        together = await asyncio.gather(*map(classify, names))
    assert [response.status_code for response in together] == [200] * len(names)
    assert len({response.json()["request_id"] for response in together}) == len(names)
    for name, response in zip(names, together, strict=True):  # batched by the worker, answered in order
        assert response.json()["probabilities"] == pytest.approx(alone[name], abs=1e-4)


async def test_check_flags_a_caption_that_contradicts_the_photo(
    module_redis_url, module_worker, sessions, key
) -> None:
    async with client(module_redis_url, sessions) as api:
        classified = (await api.post("/v1/classify", files=photo(), headers=auth(key))).json()
        response = await api.post(
            "/v1/check",
            files=photo(),
            data={"caption": "Ski day! #skiing #snow #mountains #love", "sensitivity": "strict"},
            headers=auth(key),
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["hashtags"] == ["skiing", "snow", "mountains", "love"]
    assert body["scene_hashtags"] == ["skiing", "snow", "mountains"]  # #love is neutral
    assert body["sensitivity"] == "strict" and body["threshold"] == 0.0125
    assert body["predicted_tag"] == classified["hashtag"]
    assert body["model_version"] == classified["model_version"]
    assert body["spam"] is True and body["reason"] == "mismatch"
    assert body["compatible_probability"] < body["threshold"]


async def test_check_with_too_few_hashtags_needs_no_worker(redis_url, sessions, key) -> None:
    async with client(redis_url, sessions) as api:  # no worker serves this Redis database
        response = await api.post("/v1/check", files=photo(), data={"caption": NOT_JUDGED}, headers=auth(key))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["spam"], body["reason"], body["predicted_tag"]) == (False, "too_few_hashtags", None)


async def test_min_hashtags_has_the_bounds_the_bot_and_the_dashboard_offer(redis_url, sessions, key) -> None:
    low, high = MIN_HASHTAGS_RANGE[0], MIN_HASHTAGS_RANGE[-1]
    async with client(redis_url, sessions) as api:
        for value, status in ((high, 200), (high + 1, 422), (low - 1, 422)):
            response = await api.post("/v1/check", files=photo(), headers=auth(key),
                                      data={"caption": NOT_JUDGED, "min_hashtags": str(value)})
            assert response.status_code == status, (value, response.text)


async def test_a_key_is_accepted_as_bearer_or_x_api_key_and_nothing_else(redis_url, sessions, key) -> None:
    form = {"caption": NOT_JUDGED}
    async with client(redis_url, sessions) as api:
        for headers in (auth(key), {"X-API-Key": key}):
            response = await api.post("/v1/check", files=photo(), data=form, headers=headers)
            assert response.status_code == 200, response.text
        for headers in ({}, auth(generate_key()), {"X-API-Key": key[:-1]}, {"Authorization": f"Basic {key}"}):
            response = await api.post("/v1/check", files=photo(), data=form, headers=headers)
            assert response.status_code == 401, headers
            assert error_of(response)["code"] == "unauthorized"
            assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_a_revoked_key_is_refused(redis_url, sessions, key) -> None:
    async with client(redis_url, sessions) as api:
        allowed = await api.post("/v1/check", files=photo(), data={"caption": NOT_JUDGED}, headers=auth(key))
        async with sessions.begin() as session:
            assert await revoke_key(session, key[:12])
        refused = await api.post("/v1/check", files=photo(), data={"caption": NOT_JUDGED}, headers=auth(key))
    assert (allowed.status_code, refused.status_code) == (200, 401)


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"this is a text file, not a photo", 415, ErrorCode.NOT_AN_IMAGE),
        (b"%PDF-1.7\n1 0 obj << >> endobj\n", 415, ErrorCode.UNSUPPORTED),
        (b"", 422, ErrorCode.EMPTY),
        (CAFE[: len(CAFE) // 3], 422, ErrorCode.CORRUPT),
        (bomb_png(), 413, ErrorCode.TOO_LARGE),  # over the worker's pixel limit
    ],
    ids=["text", "pdf", "empty", "truncated", "pixel-bomb"],
)
async def test_a_bad_image_gets_the_bots_code_and_words(
    module_redis_url, module_worker, sessions, key, *, data, status, code
) -> None:
    async with client(module_redis_url, sessions) as api:
        response = await api.post("/v1/classify", files=photo(data), headers=auth(key))
    assert response.status_code == status, response.text
    assert error_of(response) == {"code": code.value, "message": error_text(code, "en")}


async def test_a_body_declared_over_the_limit_is_413_before_it_is_read(redis_url, sessions, key) -> None:
    big = CAFE + bytes(200_000)
    async with client(redis_url, sessions, api_max_upload_bytes=len(CAFE)) as api:
        # The key is checked first, before the body is read (tests/test_web_limits.py counts the bytes read).
        assert (await api.post("/v1/classify", files=photo(big))).status_code == 401
        response = await api.post("/v1/classify", files=photo(big), headers=auth(key))
    assert response.status_code == 413
    assert error_of(response) == {"code": "too_large", "message": error_text(ErrorCode.TOO_LARGE, "en")}


async def test_an_image_over_the_limit_within_the_form_overhead_is_413(redis_url, sessions, key) -> None:
    async with client(redis_url, sessions, api_max_upload_bytes=len(CAFE) - 1) as api:
        response = await api.post("/v1/classify", files=photo(), headers=auth(key))
    assert response.status_code == 413
    assert error_of(response) == {"code": "too_large", "message": error_text(ErrorCode.TOO_LARGE, "en")}


async def test_the_rate_limit_refuses_with_retry_after_then_allows_the_next_minute(
    redis_url, sessions
) -> None:
    key = await new_key(sessions, per_minute=2)
    now = [1_800_000_010.0]  # 10 s into a minute
    app = app_for(redis_url, sessions)
    app.dependency_overrides[clock] = lambda: now[0]
    async with served(app) as api:

        async def post() -> httpx.Response:
            return await api.post("/v1/check", files=photo(), data={"caption": NOT_JUDGED}, headers=auth(key))

        assert [(await post()).status_code for _ in range(2)] == [200, 200]
        limited = await post()
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "50"
        assert error_of(limited) == {
            "code": "rate_limited",
            "message": "That's a lot of photos. Please wait 50 s and send it again.",
        }
        now[0] += 50
        assert (await post()).status_code == 200


async def test_no_worker_is_503_busy(redis_url, sessions, key) -> None:
    async with client(redis_url, sessions) as api:
        response = await api.post("/v1/classify", files=photo(), headers=auth(key))
    assert response.status_code == 503
    assert error_of(response) == {"code": "busy", "message": BUSY}


async def test_redis_down_is_503_busy(sessions, key) -> None:
    async with client(f"redis://127.0.0.1:{free_port()}/0", sessions) as api:
        response = await api.post("/v1/classify", files=photo(), headers=auth(key))
    assert response.status_code == 503 and error_of(response)["code"] == "busy"


async def test_a_worker_that_never_answers_is_504_and_the_job_is_dropped(
    redis_url, redis_conn: Redis, idle_worker, sessions, key
) -> None:
    async with client(redis_url, sessions, api_request_timeout_seconds=0.5) as api:
        response = await api.post("/v1/classify", files=photo(), headers=auth(key))
    assert response.status_code == 504 and error_of(response)["code"] == "timeout"
    (job_key,) = redis_conn.keys("rq:job:*")
    job_id = job_key.decode().removeprefix("rq:job:")
    job = Job.fetch(job_id, connection=redis_conn, serializer=JSONSerializer)
    assert job.get_status() == JobStatus.CANCELED  # so a worker that frees up later skips it
    assert photo_queue(redis_conn).count == 0


async def test_a_missing_field_is_422_in_the_error_shape(redis_url, sessions, key) -> None:
    async with client(redis_url, sessions) as api:
        response = await api.post("/v1/check", files=photo(), headers=auth(key))
    assert response.status_code == 422
    assert error_of(response) == {"code": "invalid_request", "message": "caption: Field required"}


async def test_a_body_that_does_not_parse_is_400_in_the_error_shape(redis_url, sessions, key) -> None:
    headers = {**auth(key), "Content-Type": "multipart/form-data; boundary=nothing-follows"}
    async with client(redis_url, sessions) as api:
        response = await api.post("/v1/classify", content=b"--elsewhere\r\ngarbage", headers=headers)
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_request"


async def test_openapi_documents_both_endpoints_their_errors_and_the_keys(redis_url, sessions) -> None:
    async with client(redis_url, sessions) as api:
        schema = (await api.get("/openapi.json")).json()
        docs = await api.get("/docs")
    assert docs.status_code == 200
    assert {"/v1/classify", "/v1/check"} <= set(schema["paths"])
    for path in ("/v1/classify", "/v1/check"):
        operation = schema["paths"][path]["post"]
        assert {"200", "401", "413", "415", "422", "429", "503", "504"} <= set(operation["responses"])
        assert operation["responses"]["429"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorResponse"
        }
        assert {"HTTPBearer", "APIKeyHeader"} == {name for item in operation["security"] for name in item}
    components = schema["components"]["schemas"]
    for model in ("Classification", "Check", "TagScore", "ErrorBody"):
        properties = components[model]["properties"]
        assert [name for name, field in properties.items() if "description" not in field] == [], model
    assert "ranked" in components["Classification"]["properties"]["suggestions"]["description"]
