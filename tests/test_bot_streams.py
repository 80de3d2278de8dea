"""bot.streams: a consumer group member hands each entry to `handle` once and acknowledges it; a dead
member's entries are taken over; handled entries can be deleted (real redis-server)."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from bot.streams import Fields, StreamConsumer

STREAM, GROUP = "test:stream", "test-group"


@pytest.fixture
async def aredis(redis_url: str):
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


class Handled:
    def __init__(self, fail_on: bytes | None = None) -> None:
        self.values: list[bytes] = []
        self.fail_on = fail_on
        self.more = asyncio.Event()

    async def __call__(self, entry_id: bytes, fields: Fields) -> bool:
        self.values.append(fields[b"v"])
        self.more.set()
        if fields[b"v"] == self.fail_on:
            raise RuntimeError("a bug in a handler")
        return fields[b"v"] != b"not yet" or self.values.count(b"not yet") > 1

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(10):
            while len(self.values) < count:
                self.more.clear()
                await self.more.wait()


async def test_each_entry_is_handled_once_acknowledged_and_deleted(aredis):
    handled = Handled(fail_on=b"2")
    consumer = StreamConsumer(aredis, STREAM, GROUP, handled, claim_idle_s=30, delete_handled=True)
    consumer.start()
    try:
        for value in range(4):
            await aredis.xadd(STREAM, {"v": str(value)})
        await handled.wait_for(4)
        await asyncio.sleep(0.2)  # acknowledgements follow the handling
    finally:
        await consumer.stop()
    assert sorted(handled.values) == [b"0", b"1", b"2", b"3"]  # a failing handler is not retried forever
    assert (await aredis.xpending(STREAM, GROUP))["pending"] == 0
    assert await aredis.xlen(STREAM) == 0


async def test_an_entry_not_done_yet_is_handled_again_once_idle(aredis):
    handled = Handled()
    consumer = StreamConsumer(aredis, STREAM, GROUP, handled, claim_idle_s=0.2)
    consumer.start()
    try:
        await aredis.xadd(STREAM, {"v": "not yet"})
        await handled.wait_for(2)
        await asyncio.sleep(0.2)
    finally:
        await consumer.stop()
    assert handled.values == [b"not yet", b"not yet"]
    assert (await aredis.xpending(STREAM, GROUP))["pending"] == 0


async def test_a_dead_members_entries_are_taken_over_once_idle(aredis):
    await aredis.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    await aredis.xadd(STREAM, {"v": "orphan"})
    await aredis.xreadgroup(GROUP, "killed", {STREAM: ">"})  # read, never acknowledged
    handled = Handled()
    consumer = StreamConsumer(aredis, STREAM, GROUP, handled, claim_idle_s=0.2)
    consumer.start()
    try:
        await handled.wait_for(1)
    finally:
        await consumer.stop()
    assert handled.values == [b"orphan"]
