"""`StreamConsumer`: one bot process's member of a Redis Streams consumer group, on `redis.asyncio`.

Both of the bot's durable paths use it: photo updates (`bot.intake`) and job results (`bot.answers`).
It reads new entries with XREADGROUP ... BLOCK (one blocked read serves any number of waiting photos:
no thread, no update slot), hands each to `handle` as its own task (at most `max_in_flight` at once),
and acknowledges it (XACK) once `handle` returned True (False: not yet, take it over again later).
Entries another consumer read and never acknowledged (it was killed) are taken over with XAUTOCLAIM
once idle for `claim_idle_s`. Delivery is
therefore at least once: `handle` must be idempotent (the photo's idempotency key and its answer's
claim, bot.pending, make it so). `tick`, when given, runs between reads, about every `tick_s`.
Consumers of processes long gone, with nothing pending, are removed from the group.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from bot.loops import RedisLoop

logger = logging.getLogger(__name__)

# The one consumer group of bot processes, on each of the bot's streams (updates and results).
GROUP = "scenetag-bots"
# A live consumer acknowledges an entry within a second or two (one update handled, or one Telegram send);
# an entry unacknowledged this long belongs to a consumer that died, and another takes it over.
CLAIM_IDLE_S = 15.0
BLOCK_MS = 1000  # longest blocking read: how soon a stop or a due tick is noticed
READ_COUNT = 64  # entries taken per read
RETRY_AFTER_ERROR_S = 1.0
STOP_GRACE_S = 10.0  # entries being handled get this long to finish at stop
# A consumer with nothing pending and idle this long is a process that is gone: removed from the group,
# so restarts (a new consumer name each) do not pile up.
FORGET_CONSUMER_IDLE_MS = 3600 * 1000

Fields = dict[bytes, bytes]
# Returns whether the entry is done with: False leaves it pending, to be taken over again once idle.
Handle = Callable[[bytes, Fields], Awaitable[bool]]


def consumer_name() -> str:
    """Unique per process: a restarted bot is a new consumer, and takes over the old one's entries."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class StreamConsumer(RedisLoop):
    """Reads `stream` as `consumer` of `group`; `start()` once the event loop runs, `stop()` at the end."""

    def __init__(
        self,
        redis: Redis,
        stream: str,
        group: str,
        handle: Handle,
        *,
        claim_idle_s: float,
        consumer: str | None = None,
        max_in_flight: int = 256,
        tick: Callable[[], Awaitable[None]] | None = None,
        tick_s: float = 1.0,
        delete_handled: bool = False,
    ) -> None:
        self._redis, self.stream, self.group, self._handle = redis, stream, group, handle
        self._claim_idle_ms = max(1, round(claim_idle_s * 1000))
        self.consumer = consumer or consumer_name()
        self._slots = asyncio.Semaphore(max_in_flight)
        self._tick, self._tick_s = tick, tick_s
        # Delete an entry once acknowledged (the group is its only reader), so the stream keeps only
        # what is not handled yet; otherwise it is trimmed by length (XADD MAXLEN) only.
        self._delete_handled = delete_handled
        self._handling: set[asyncio.Task[None]] = set()
        super().__init__()

    @property
    def task_name(self) -> str:
        return f"{self.stream}:{self.consumer}"

    async def stop(self) -> None:
        """Stop reading; entries being handled may finish (an unfinished one is taken over elsewhere)."""
        await super().stop()
        if self._handling:
            await asyncio.wait(self._handling, timeout=STOP_GRACE_S)

    async def _run(self) -> None:
        next_tick = next_takeover = 0.0
        while not self._stopping:
            try:
                await self._ensure_group()
                while not self._stopping:
                    now = time.monotonic()
                    if now >= next_takeover:
                        await self._take_over_idle()
                        next_takeover = now + self._claim_idle_ms / 2000
                    if self._tick is not None and now >= next_tick:
                        await self._tick()
                        next_tick = now + self._tick_s
                    await self._read()
            except RedisError as error:
                if self._stopping:
                    return
                logger.warning("%s: redis unavailable (%s); retrying", self.stream, error)
                await asyncio.sleep(RETRY_AFTER_ERROR_S)

    async def _ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def _read(self) -> None:
        reply = await self._redis.xreadgroup(
            self.group, self.consumer, {self.stream: ">"}, count=READ_COUNT, block=BLOCK_MS
        )
        for _stream, entries in reply or []:
            await self._dispatch(entries)

    async def _take_over_idle(self) -> None:
        """XAUTOCLAIM what other (dead) consumers read but never acknowledged."""
        start: bytes | str = "0-0"
        while True:
            reply = await self._redis.xautoclaim(
                self.stream, self.group, self.consumer, self._claim_idle_ms, start_id=start, count=READ_COUNT
            )
            start, entries = reply[0], reply[1]
            trimmed = reply[2] if len(reply) > 2 else []
            if trimmed:  # deleted before anyone handled them: nothing left to hand over
                await self._redis.xack(self.stream, self.group, *trimmed)
            if entries:
                logger.info("%s: took over %d entries of a stopped consumer", self.stream, len(entries))
                await self._dispatch(entries)
            if start in (b"0-0", "0-0"):
                break
        for consumer in await self._redis.xinfo_consumers(self.stream, self.group):
            if consumer["pending"] == 0 and consumer["idle"] > FORGET_CONSUMER_IDLE_MS:
                await self._redis.xgroup_delconsumer(self.stream, self.group, consumer["name"])

    async def _dispatch(self, entries: list[tuple[bytes, Fields]]) -> None:
        for entry_id, fields in entries:
            await self._slots.acquire()
            task = asyncio.get_running_loop().create_task(self._handle_and_ack(entry_id, fields))
            self._handling.add(task)
            task.add_done_callback(self._handled)

    async def _handle_and_ack(self, entry_id: bytes, fields: Fields) -> None:
        try:
            done = await self._handle(entry_id, fields)
        except Exception:  # a bug: log it, and do not hand a poison entry around forever
            logger.exception("%s: handling entry %s failed", self.stream, entry_id)
            done = True
        if not done:
            return
        await self._redis.xack(self.stream, self.group, entry_id)
        if self._delete_handled:
            await self._redis.xdel(self.stream, entry_id)

    def _handled(self, task: asyncio.Task[None]) -> None:
        self._handling.discard(task)
        self._slots.release()
        if not task.cancelled() and task.exception() is not None:  # the XACK itself failed
            logger.warning("%s: %s", self.stream, task.exception())
