"""Photo updates count as taken only once they are recorded in Redis.

python-telegram-bot's Updater hands every update it fetched to `Application.update_queue.put` and only
then confirms it: by long polling, the next getUpdates carries the higher offset; by webhook, the HTTP
200 is sent when `put` returns. `RecordingQueue` is that queue (`ApplicationBuilder.update_queue`, PTB's
own extension point, no fork of the Updater): its `put` appends a photo update to the Redis Stream
`UPDATES_STREAM` before returning, so a bot killed after fetching a photo has not confirmed it unless it
was recorded. Other updates (commands, buttons) go to the in-memory queue as before.

Every bot process reads that stream in one consumer group (`IntakeLoop`, a `bot.streams.StreamConsumer`)
and runs each update through PTB's own update processor and handlers; an update a killed process read
but never finished is taken over by another. The photo handler is idempotent per update id
(bot.pending), so an update handled twice is accepted once. When Redis cannot take the update, it is
handled in memory, and the handler, which needs Redis too, answers "busy": never silence.
"""

from __future__ import annotations

import asyncio
import json
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError
from telegram import Update
from telegram.ext import Application, filters

from bot.streams import CLAIM_IDLE_S, GROUP, Fields, StreamConsumer
from worker.contract import STREAM_MAX_ENTRIES

logger = logging.getLogger(__name__)

UPDATES_STREAM = "scenetag:updates"
# What is recorded: a photo, or an image sent as a file (the handlers' own filter).
PHOTO = filters.PHOTO | filters.Document.IMAGE


def is_photo_update(update: object) -> bool:
    return isinstance(update, Update) and bool(PHOTO.check_update(update))


class RecordingQueue(asyncio.Queue):  # type: ignore[type-arg]
    """`Application.update_queue`: photo updates go to Redis before the Updater confirms them."""

    def __init__(self, redis: Redis) -> None:
        super().__init__()
        self._redis = redis

    async def put(self, item: object) -> None:
        if is_photo_update(item):
            assert isinstance(item, Update)
            try:
                await self._redis.xadd(
                    UPDATES_STREAM,
                    {"update": json.dumps(item.to_dict())},
                    maxlen=STREAM_MAX_ENTRIES,
                    approximate=True,
                )
                return
            except RedisError as error:
                logger.warning("could not record update %s (%s); handling it here", item.update_id, error)
        await super().put(item)


class IntakeLoop:
    """Handles the recorded photo updates with the application's handlers, in any bot process."""

    def __init__(self, redis: Redis, application: Application) -> None:  # type: ignore[type-arg]
        self._application = application
        # Handled updates are deleted: the stream holds users' messages (captions) only until handled.
        self._updates = StreamConsumer(
            redis, UPDATES_STREAM, GROUP, self._handle, claim_idle_s=CLAIM_IDLE_S, delete_handled=True
        )

    def start(self) -> None:
        self._updates.start()

    async def stop(self) -> None:
        await self._updates.stop()

    async def _handle(self, entry_id: bytes, fields: Fields) -> bool:
        application = self._application
        update = Update.de_json(json.loads(fields[b"update"]), application.bot)
        # Through PTB's update processor, as updates from the in-memory queue go (its concurrency limit).
        await application.update_processor.process_update(update, application.process_update(update))
        return True
