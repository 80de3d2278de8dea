"""bot.intake: a photo update is in Redis before `put` returns (so before PTB confirms it); other
updates, and photos when Redis is down, stay in memory (real redis-server)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis
from telegram import Chat, Message, PhotoSize, Update, User

from bot.intake import UPDATES_STREAM, RecordingQueue, is_photo_update
from tests.services import free_port

ALICE = User(5, "Alice", False)
CHAT = Chat(5, Chat.PRIVATE)


def update(update_id: int, **fields: object) -> Update:
    return Update(update_id, message=Message(1, datetime.now(UTC), CHAT, from_user=ALICE, **fields))


PHOTO = (PhotoSize("file-id", "unique-id", 1280, 960, file_size=100_000),)


@pytest.fixture
async def aredis(redis_url: str):
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def test_photos_and_image_files_are_photo_updates():
    assert is_photo_update(update(1, photo=PHOTO))
    assert not is_photo_update(update(2, text="/help"))
    assert not is_photo_update(object())  # PTB's own stop signal goes through the queue too


async def test_a_photo_update_is_recorded_and_a_command_queued_in_memory(aredis):
    queue = RecordingQueue(aredis)
    await queue.put(update(712000001, photo=PHOTO))
    await queue.put(update(712000002, text="/help"))
    ((_, fields),) = await aredis.xrange(UPDATES_STREAM)
    recorded = Update.de_json(json.loads(fields[b"update"]), None)
    assert recorded.update_id == 712000001 and recorded.message.photo[-1].file_id == "file-id"
    assert queue.qsize() == 1 and queue.get_nowait().update_id == 712000002


async def test_without_redis_a_photo_is_handled_in_memory():
    client = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    try:
        queue = RecordingQueue(client)
        await queue.put(update(712000003, photo=PHOTO))
        assert queue.get_nowait().update_id == 712000003  # the handler then answers "busy"
    finally:
        await client.aclose()
