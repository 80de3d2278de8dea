"""bot.pending: a photo is recorded once per update, and only one claimant answers it (real redis-server)."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from bot.pending import DEADLINES_KEY, ClaimState, PendingAnswers, lease_key
from tests.test_bot_jobs import pending_photo


@pytest.fixture
async def store(redis_url: str):
    client = Redis.from_url(redis_url)
    yield PendingAnswers(client)
    await client.aclose()


async def test_an_update_is_recorded_once(store):
    first = pending_photo(update_id=7)
    assert await store.record(first)
    assert not await store.record(pending_photo(update_id=7))  # redelivered: a new job id, same update
    assert await store.overdue(first.deadline, 10) == [first.job_id]


async def test_one_claim_wins_until_finished_then_the_photo_is_gone(store, redis_url):
    photo = pending_photo(update_id=8)
    await store.record(photo)
    other_replica = PendingAnswers(Redis.from_url(redis_url))
    won = await store.claim(photo.job_id, "replica-a")
    assert (won.state, won.pending) == (ClaimState.CLAIMED, photo)
    assert (await other_replica.claim(photo.job_id, "replica-b")).state is ClaimState.HELD
    await store.finish(photo.job_id)
    assert (await other_replica.claim(photo.job_id, "replica-b")).state is ClaimState.GONE
    assert await store.overdue(photo.deadline, 10) == []


async def test_a_claimant_that_died_loses_its_lease(store, redis_url):
    photo = pending_photo(update_id=9)
    await store.record(photo)
    assert (await store.claim(photo.job_id, "killed")).state is ClaimState.CLAIMED
    client = Redis.from_url(redis_url)
    try:
        await client.delete(lease_key(photo.job_id))  # what the lease's expiry does
        assert (await PendingAnswers(client).claim(photo.job_id, "survivor")).pending == photo
    finally:
        await client.aclose()


async def test_a_stale_deadline_is_forgotten(store, redis_url):
    photo = pending_photo(update_id=10)
    await store.record(photo)
    await store.forget(photo.job_id)
    client = Redis.from_url(redis_url)
    try:
        assert await client.zcard(DEADLINES_KEY) == 0
    finally:
        await client.aclose()
