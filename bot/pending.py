"""Photos waiting for their answer, kept in Redis so that any bot process can answer them.

A photo accepted by the bot becomes a `PendingAnswer` (what answering needs: the photo's message as the
Bot API sent it, private or group, the job id, when it was accepted, its deadline). A group's moderation
settings are not copied in: the answer reads them from the database, so a change an admin made while the
photo waited applies (a settings version in the record could only detect what re-reading gets right).
The user's language comes with the message. Three keys hold it:

- `scenetag:seen:<update id>` -> job id: the idempotency key. Telegram delivers an update again when the
  bot died before confirming it, and another process takes over an update a killed one was handling; the
  record is written only if this key was absent (SET NX, in one Lua script with the record), so a photo is
  accepted once. A redelivery of a photo whose first handler died after recording it but before queueing
  its job queues it under the recorded job id (bot.jobs).
- `scenetag:pending:<job id>`: the record, until answered.
- `scenetag:deadlines`: a sorted set of job ids by deadline, which the deadline sweep reads.

Whoever answers (the process that read the worker's result, or the sweep once the deadline passed)
first *claims* the record: a Lua script that returns it only when it still exists and takes a lease
(`scenetag:answering:<job id>`, SET NX PX). The result and the deadline racing, two replicas, a
redelivered stream entry: whichever claims first answers, the others find the record gone or leased.
`finish` deletes it. A process that dies between claim and answer loses only its lease: when it expires
the stream entry (claimed by another consumer) or the sweep claims the record again. A process that dies
after sending but before `finish` leaves the one window for a second answer, a lease later; Telegram has
no idempotent send, so this is as close to exactly once as a sender can get.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from redis.asyncio import Redis

SEEN_TTL_S = 24 * 3600  # Telegram stops redelivering an update long before this
LEASE_MS = 60_000  # longer than any answer takes (a Telegram send with its flood-wait retries)
# The record outlives its deadline so the sweep always finds it; past this it is garbage.
RECORD_GRACE_S = 3600
DEADLINES_KEY = "scenetag:deadlines"

_RECORD = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[4]) then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return 1
"""

_CLAIM = """
local record = redis.call('GET', KEYS[1])
if not record then return {0} end
if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1} end
return {2, record}
"""


PhotoKind = Literal["private", "group"]  # a private suggestion, or a group moderation check


class PendingAnswer(BaseModel):
    """What answering a photo needs, from whichever bot process answers it."""

    model_config = ConfigDict(frozen=True)

    job_id: str  # the RQ job classifying the photo
    update_id: int  # Telegram's update id: the idempotency key
    kind: PhotoKind
    message: dict[str, Any]  # the photo's Message as the Bot API sent it (rebuilt with Message.de_json)
    file_unique_id: str  # what a stored suggestion records instead of the photo
    # A group photo's perceptual hash (moderation.blocklist), computed from the download the bot made: a
    # flag records it, so an admin's "spam" can block the picture. None for private photos.
    picture_hash: str | None = None
    album: str | None = None  # a group photo judged with its album: the album's key (bot.albums)
    accepted_at: float  # unix time the bot accepted the photo (latency is measured from it)
    deadline: float  # unix time after which the user is told it took too long


class ClaimState(enum.Enum):
    GONE = 0  # answered already (or never recorded)
    HELD = 1  # another process holds the lease and is answering it
    CLAIMED = 2  # this caller answers it, then calls `finish`


@dataclass(frozen=True)
class Claim:
    state: ClaimState
    pending: PendingAnswer | None = None  # set when CLAIMED


def seen_key(update_id: int) -> str:
    return f"scenetag:seen:{update_id}"


def pending_key(job_id: str) -> str:
    return f"scenetag:pending:{job_id}"


def lease_key(job_id: str) -> str:
    return f"scenetag:answering:{job_id}"


class PendingAnswers:
    """The Redis store of photos waiting for their answer (one per process; clients are shared)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._record = redis.register_script(_RECORD)
        self._claim = redis.register_script(_CLAIM)

    async def record(self, pending: PendingAnswer) -> bool:
        """Store `pending` unless its update was accepted before; False means a redelivered update."""
        ttl = max(1, round(pending.deadline - pending.accepted_at) + RECORD_GRACE_S)
        keys = [seen_key(pending.update_id), pending_key(pending.job_id), DEADLINES_KEY]
        args = [pending.job_id, pending.model_dump_json(), pending.deadline, SEEN_TTL_S, ttl]
        return bool(await self._record(keys=keys, args=args))

    async def recorded_job(self, update_id: int) -> str | None:
        """The job id an update was accepted under, while that photo still waits for its answer."""
        job_id = await self._redis.get(seen_key(update_id))
        if job_id is None:
            return None
        job_id = job_id.decode() if isinstance(job_id, bytes) else job_id
        return job_id if await self._redis.exists(pending_key(job_id)) else None

    async def claim(self, job_id: str, owner: str) -> Claim:
        """Take the right to answer `job_id` (see the module docstring)."""
        reply = await self._claim(keys=[pending_key(job_id), lease_key(job_id)], args=[owner, LEASE_MS])
        state = ClaimState(int(reply[0]))
        if state is not ClaimState.CLAIMED:
            return Claim(state)
        return Claim(state, PendingAnswer.model_validate_json(reply[1]))

    async def finish(self, job_id: str) -> None:
        """The photo was answered: forget it."""
        async with self._redis.pipeline(transaction=True) as pipeline:
            pipeline.delete(pending_key(job_id), lease_key(job_id))
            pipeline.zrem(DEADLINES_KEY, job_id)
            await pipeline.execute()

    async def overdue(self, now: float, limit: int) -> list[str]:
        """Job ids whose deadline has passed, oldest first (answered ones linger until `forget`)."""
        job_ids = await self._redis.zrangebyscore(DEADLINES_KEY, "-inf", now, start=0, num=limit)
        return [job_id.decode() if isinstance(job_id, bytes) else job_id for job_id in job_ids]

    async def forget(self, job_id: str) -> None:
        """Drop a deadline whose record is gone."""
        await self._redis.zrem(DEADLINES_KEY, job_id)
