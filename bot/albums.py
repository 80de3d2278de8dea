"""Albums waiting for their verdict, in Redis, so that every bot replica works on the same album.

Telegram sends an album (a media group) as one message per photo, each its own update, within a moment;
behind webhooks they reach different replicas, and one may arrive late. Moderation judges the album as
one post (`moderation.album`), so each photo of an album in a moderated chat is recorded here first:

- `scenetag:album:<chat id>:<media group id>`, a hash: `photo:<message id>` -> the `AlbumPhoto` (the
  message as the Bot API sent it, its update id, its picture hash when the bot hashed it); `jobs`: how many
  photos went to the worker; `result:<message id>` -> what came back for a photo (`AlbumResult`) and
  `done`, how many did; `judging`, once a replica took it; `verdict`, the action taken on the album,
  decided once (HSETNX) by whichever replica gets there first (the result that completes the album, or a
  photo matching a known spam picture, earlier).
- `scenetag:albums:settling`: album keys by the time the album counts as complete, `wait_s` after its
  latest photo. One replica takes a due album (`take`, a Lua script: the album is then due again a lease
  later) and removes it once its photos went to the worker (`settled`); a replica killed in between leaves it
  to another when the lease ends.

A photo recorded after its album was taken is still part of it: the verdict's action covers every photo
recorded by then, and one arriving after the verdict is told it (`add` returns it) and follows it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.loops import RedisLoop
from moderation.blocklist import Match
from worker.contract import ClassifyResult

logger = logging.getLogger(__name__)

SETTLING_KEY = "scenetag:albums:settling"
POLL_INTERVAL_S = 0.25  # how often due albums are looked for (an album is judged late by at most this)
TAKE_LEASE_S = 120.0  # longer than sending an album's photos to the worker takes (downloads, enqueues)
ALBUM_TTL_S = 3600  # an album's record outlives any wait, classification and late photo
PHOTO_FIELD, RESULT_FIELD = "photo:", "result:"

# Record the photo; schedule the album unless a replica took it already; whether one did, and the verdict.
_ADD = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
local taken = redis.call('HEXISTS', KEYS[1], 'judging')
if taken == 0 then
  redis.call('ZADD', KEYS[2], ARGV[3], KEYS[1])
end
return {taken, redis.call('HGET', KEYS[1], 'verdict') or ''}
"""

# Take a due album: it stays scheduled, a lease later, until the taker says it is settled.
_TAKE = """
local due = redis.call('ZSCORE', KEYS[2], KEYS[1])
if not due or tonumber(due) > tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[2], ARGV[2], KEYS[1])
redis.call('HSET', KEYS[1], 'judging', 1)
return 1
"""

# A photo's result, counted once; 1 for the caller whose result completes the album.
_RESULT = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
local done = redis.call('HINCRBY', KEYS[1], 'done', 1)
return done == tonumber(redis.call('HGET', KEYS[1], 'jobs') or '-1') and 1 or 0
"""


class AlbumResult(BaseModel):
    """What came back for one photo of an album."""

    model_config = ConfigDict(frozen=True)

    result: ClassifyResult | None  # None: no classification (a bad image, a timeout, a busy worker)
    picture_hash: str | None = None  # the photo's hash, from the download the bot made to classify it


class AlbumPhoto(BaseModel):
    """One photo of an album, as any replica needs it to judge and act on the album."""

    model_config = ConfigDict(frozen=True)

    message: dict[str, Any]  # the photo's Message as the Bot API sent it (rebuilt with Message.de_json)
    update_id: int
    picture_hash: str | None = None  # moderation.blocklist's hash, when the bot downloaded the photo
    match: Match | None = None  # the blocklist entry it matched: a known spam picture condemns the album

    @property
    def message_id(self) -> int:
        return int(self.message["message_id"])


@dataclass(frozen=True)
class AlbumState:
    """What a photo arriving finds of its album."""

    taken: bool  # a replica is judging it already: the photo is too late to be classified with it
    verdict: str | None  # the action taken on the album, once decided


def album_key(chat_id: int, media_group_id: str) -> str:
    return f"scenetag:album:{chat_id}:{media_group_id}"


class Albums:
    """The Redis store of albums being judged (one per process; the client is shared)."""

    def __init__(self, redis: Redis, wait_s: float) -> None:
        self._redis, self.wait_s = redis, wait_s
        self._add = redis.register_script(_ADD)
        self._take = redis.register_script(_TAKE)
        self._result = redis.register_script(_RESULT)

    async def add(self, key: str, photo: AlbumPhoto, now: float) -> AlbumState:
        """Record a photo of the album: whether a replica took the album already, and its verdict if any."""
        field = f"{PHOTO_FIELD}{photo.message_id}"
        args = [field, photo.model_dump_json(), now + self.wait_s, ALBUM_TTL_S]
        taken, verdict = await self._add(keys=[key, SETTLING_KEY], args=args)
        return AlbumState(taken=bool(taken), verdict=_text(verdict) or None)

    async def due(self, now: float, limit: int = 100) -> list[str]:
        """Albums whose photos have all arrived (none for `wait_s`), oldest first."""
        return [_text(key) for key in await self._redis.zrangebyscore(SETTLING_KEY, "-inf", now, 0, limit)]

    async def take(self, key: str, now: float) -> bool:
        """The right to judge a due album: True for one caller. Until `settled`, the album is due again
        `TAKE_LEASE_S` later, so a replica that died judging it leaves it to another."""
        return bool(await self._take(keys=[key, SETTLING_KEY], args=[now, now + TAKE_LEASE_S]))

    async def settled(self, key: str) -> None:
        """The album was judged, or all its photos went to the worker: no replica need take it again."""
        await self._redis.zrem(SETTLING_KEY, key)

    async def photos(self, key: str) -> list[AlbumPhoto]:
        """The album's photos, in the order they were sent."""
        fields = await self._redis.hgetall(key)
        photos = [
            AlbumPhoto.model_validate_json(value)
            for name, value in fields.items()
            if _text(name).startswith(PHOTO_FIELD)
        ]
        return sorted(photos, key=lambda photo: photo.message_id)

    async def expect(self, key: str, jobs: int) -> None:
        """How many of the album's photos were sent to the worker (before the first is)."""
        await self._redis.hset(key, "jobs", jobs)

    async def add_result(self, key: str, message_id: int, result: AlbumResult) -> bool:
        """What came back for one photo (once per photo); True when it is the last the album waited for."""
        args = [f"{RESULT_FIELD}{message_id}", result.model_dump_json()]
        return bool(await self._result(keys=[key], args=args))

    async def results(self, key: str) -> dict[int, AlbumResult]:
        """What came back for the album's photos, by message id."""
        fields = await self._redis.hgetall(key)
        return {
            int(_text(name).removeprefix(RESULT_FIELD)): AlbumResult.model_validate_json(value)
            for name, value in fields.items()
            if _text(name).startswith(RESULT_FIELD)
        }

    async def decide(self, key: str, action: str) -> bool:
        """Record the album's verdict; True for the one caller that decided it (and acts on it)."""
        return bool(await self._redis.hsetnx(key, "verdict", action))


class AlbumLoop(RedisLoop):
    """Takes the albums whose photos have all arrived and hands each to `settle`, in every bot process:
    `start()` in post_init, `stop()` at shutdown. The take makes one process settle each album."""

    def __init__(self, albums: Albums, settle: Callable[[str], Awaitable[None]]) -> None:
        super().__init__()
        self._albums, self._settle = albums, settle

    async def _run(self) -> None:
        while not self._stopping:
            try:
                for key in await self._albums.due(time.time()):
                    if await self._albums.take(key, time.time()):
                        await self._settle_logged(key)
            except RedisError as error:  # Redis is back later: the albums wait in it
                if self._stopping:
                    return
                logger.warning("albums unavailable: %s", error)
            await asyncio.sleep(POLL_INTERVAL_S)

    async def _settle_logged(self, key: str) -> None:
        try:
            await self._settle(key)
        except Exception:  # one album's failure (a database error) must not stop the others' judging
            logger.exception("could not judge album %s; it is taken again after the lease", key)
            return
        await self._albums.settled(key)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
