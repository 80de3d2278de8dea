"""The real bot's answers when no classification comes: per-user rate limit, and a worker that never answers.

No model needed: the "worker" is only an RQ registration that takes no jobs, so each photo waits out
the bot's REPLY_TIMEOUT_SECONDS (short here) and the user is told, and the job dropped.
"""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from PIL import Image
from redis import Redis
from rq import Worker
from rq.serializers import JSONSerializer

from bot.i18n import text
from tests.e2e.running_bot import RunningBot, polling_bot
from tests.fake_telegram import FakeTelegram
from worker.queue import photo_queue

pytestmark = pytest.mark.slow

TIMEOUT_S = 1.5


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 120, 200)).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest_asyncio.fixture
async def stalled_bot(redis_url: str, tmp_path) -> AsyncIterator[tuple[FakeTelegram, RunningBot, Redis]]:
    connection = Redis.from_url(redis_url)
    stuck = Worker([photo_queue(connection)], connection=connection, serializer=JSONSerializer)
    stuck.register_birth()
    try:
        async with (
            FakeTelegram() as telegram,
            polling_bot(
                telegram,
                tmp_path,
                redis_url=redis_url,
                reply_timeout_seconds=TIMEOUT_S,
                rate_limit_per_minute=2,
            ) as running,
        ):
            yield telegram, running, connection
    finally:
        stuck.register_death()
        connection.close()


async def test_no_answer_in_time_is_told_and_the_rate_limit_answers_too(stalled_bot):
    telegram, _, connection = stalled_bot
    erin = telegram.new_user("Erin", language_code="ru")
    first = await telegram.send_private_photo(erin, jpeg())
    reply = await telegram.wait_for_message(erin.id, after_message_id=first["message_id"], timeout=15)
    assert reply["text"] == text("timeout", "ru")
    assert photo_queue(connection).get_jobs() == []  # dropped: no worker will classify it later

    await telegram.send_private_photo(erin, jpeg())  # the second of 2 a minute: waits out its timeout too
    await telegram.send_private_photo(erin, jpeg())  # the third: refused at once
    limited = await telegram.wait_for_message(
        erin.id, lambda m: m["text"].startswith("Слишком много фото"), after_message_id=first["message_id"]
    )
    seconds = int(re.search(r"(\d+) с", limited["text"]).group(1))
    assert 50 <= seconds <= 60  # until the first photo leaves the one-minute window
