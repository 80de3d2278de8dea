"""bot.albums: the album state every replica shares (real redis-server): one replica takes an album once its
photos have stopped arriving, the result that completes it is known to one caller, and its verdict is decided
once and told to photos that come late."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from redis.asyncio import Redis

from bot.albums import TAKE_LEASE_S, AlbumLoop, AlbumPhoto, AlbumResult, Albums, AlbumState, album_key
from moderation.blocklist import Entry, Match
from worker.contract import ClassifyResult

KEY = album_key(-100, "13758")
WAIT_S = 2.0


def photo(message_id: int, caption: str | None = None) -> AlbumPhoto:
    message = {"message_id": message_id, "date": 0, "chat": {"id": -100, "type": "supergroup"}}
    message |= {"caption": caption} if caption else {}
    return AlbumPhoto(message=message, update_id=message_id + 1000)


@pytest.fixture
async def clients(redis_url: str):
    replicas = [Redis.from_url(redis_url), Redis.from_url(redis_url)]
    yield replicas
    for client in replicas:
        await client.aclose()


@pytest.fixture
def albums(clients) -> list[Albums]:
    """The store as two bot replicas see it."""
    return [Albums(client, WAIT_S) for client in clients]


async def test_an_album_is_due_once_no_photo_arrived_for_the_wait_and_one_replica_takes_it(albums):
    a, b = albums
    assert await a.add(KEY, photo(12), now=100.0) == AlbumState(taken=False, verdict=None)
    await b.add(KEY, photo(11, "#beach #sport"), now=101.0)  # another replica, a second later
    assert await a.due(now=102.9) == []  # the second photo moved the album's time on
    assert await a.due(now=103.0) == [KEY]
    taken = await asyncio.gather(a.take(KEY, now=103.0), b.take(KEY, now=103.0))
    assert sorted(taken) == [False, True]
    assert [p.message_id for p in await b.photos(KEY)] == [11, 12]  # in the order they were sent


async def test_a_photo_recorded_after_the_album_was_taken_joins_it_without_a_second_judging(albums):
    a, b = albums
    await a.add(KEY, photo(11), now=100.0)
    assert await a.take(KEY, now=102.0)
    assert await b.add(KEY, photo(12), now=103.0) == AlbumState(taken=True, verdict=None)
    assert await a.due(now=102.0 + TAKE_LEASE_S - 1) == []  # not scheduled again by the late photo
    assert [p.message_id for p in await a.photos(KEY)] == [11, 12]


async def test_an_album_whose_taker_died_is_taken_again_after_the_lease_and_not_once_settled(albums):
    a, b = albums
    await a.add(KEY, photo(11), now=100.0)
    assert await a.take(KEY, now=102.0)  # and the replica is killed before it settles the album
    assert not await b.take(KEY, now=102.0 + TAKE_LEASE_S - 1)
    assert await b.take(KEY, now=102.0 + TAKE_LEASE_S)
    await b.settled(KEY)
    assert await a.due(now=1e12) == []


async def test_the_result_that_completes_the_album_is_known_to_one_caller(albums):
    a, b = albums
    for message_id in (11, 12, 13):
        await a.add(KEY, photo(message_id), now=100.0)
    await a.expect(KEY, 3)
    result = ClassifyResult(request_id="r", ok=True, probabilities={"water": 1.0})
    assert not await a.add_result(KEY, 11, AlbumResult(result=result, picture_hash="ab"))
    assert not await a.add_result(KEY, 11, AlbumResult(result=None))  # the same photo again: counted once
    completed = await asyncio.gather(
        a.add_result(KEY, 12, AlbumResult(result=None)), b.add_result(KEY, 13, AlbumResult(result=result))
    )
    assert sorted(completed) == [False, True]
    results = await b.results(KEY)
    assert results[11] == AlbumResult(result=result, picture_hash="ab") and results[12].result is None


async def test_the_verdict_is_decided_once_and_a_late_photo_is_told_it(albums):
    a, b = albums
    await a.add(KEY, photo(11), now=100.0)
    decided = await asyncio.gather(a.decide(KEY, "delete"), b.decide(KEY, "none"))
    assert sorted(decided) == [False, True]
    state = await b.add(KEY, photo(14), now=300.0)
    assert state.verdict in {"delete", "none"} and state == (await a.add(KEY, photo(15), now=301.0))


async def test_a_photos_blocklist_match_travels_with_it(albums):
    match = Match(Entry(7, "00ff00ff00ff00ff"), distance=3)
    known = photo(11).model_copy(update={"picture_hash": "00ff00ff00ff00fe", "match": match})
    await albums[0].add(KEY, known, now=100.0)
    await albums[0].add(KEY, photo(12), now=100.0)
    assert [p.match for p in await albums[1].photos(KEY)] == [match, None]


async def test_the_loop_settles_each_due_album_once_across_replicas(albums):
    settled: list[str] = []
    both = asyncio.Event()

    async def settle(key: str) -> None:
        settled.append(key)
        if len(settled) == 2:
            both.set()

    other = album_key(-100, "99")
    await albums[0].add(KEY, photo(11), now=0.0)
    await albums[1].add(other, photo(21), now=0.0)
    loops = [AlbumLoop(store, settle) for store in albums]
    for loop in loops:
        loop.start()
    try:
        async with asyncio.timeout(5):
            await both.wait()
        await asyncio.sleep(0.5)  # a few more polls: nothing is settled twice
    finally:
        for loop in loops:
            await loop.stop()
    assert sorted(settled) == sorted([KEY, other])


async def test_one_album_that_fails_to_settle_does_not_stop_the_loop(albums):
    settled: list[str] = []
    other_settled = asyncio.Event()

    async def settle(key: str) -> None:
        if key == KEY:
            raise RuntimeError("the database went away")
        settled.append(key)
        other_settled.set()

    other = album_key(-100, "99")
    await albums[0].add(KEY, photo(11), now=0.0)
    await albums[0].add(other, photo(21), now=1.0)
    loop = AlbumLoop(albums[0], settle)
    loop.start()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(5):
            await other_settled.wait()
    await loop.stop()
    assert settled == [other]
