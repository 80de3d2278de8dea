"""The real `scenetag-bot` processes, killed and replicated: no photo lost, none answered twice.

Fake Bot API <-> `python -m bot` subprocesses (long polling, or webhook replicas behind a round-robin
load balancer) <-> the module's Redis <-> one real worker with the shipped model. A process is killed
with SIGKILL, as an OOM kill or a lost node does: nothing is flushed, confirmed or handed over.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from rq.registry import StartedJobRegistry

from bot.i18n import text
from bot.intake import UPDATES_STREAM
from bot.pending import DEADLINES_KEY
from bot.streams import GROUP
from tests.e2e.conftest import Sample, eventually
from tests.e2e.test_blocklist_e2e import press, reposted
from tests.fake_telegram import FakeTelegram, User
from tests.fake_telegram.balancer import LoadBalancer
from tests.services import BotProcess, free_port, launch_bot
from worker.contract import RESULTS_STREAM
from worker.queue import photo_queue

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

START_TIMEOUT_S = 120.0  # a bot process importing PTB, SQLAlchemy and migrating on a busy 2-core box
ANSWER_TIMEOUT_S = 120.0  # includes the takeover of a killed process's entries (bot.streams)
SETTLED_TIMEOUT_S = 90.0


@pytest_asyncio.fixture(loop_scope="module")
async def redis(workers) -> AsyncIterator[Redis]:
    client = Redis.from_url(workers.redis_url)
    yield client
    await client.aclose()


@pytest_asyncio.fixture(loop_scope="module")
async def bots(telegram, workers, tmp_path: Path) -> AsyncIterator[Callable[..., BotProcess]]:
    """`bots(**env)` starts a bot process on the module's Redis; all are stopped (logs printed) at the end."""
    started: list[BotProcess] = []

    def start(**env: str) -> BotProcess:
        defaults = {"REPLY_TIMEOUT_SECONDS": "240", "RATE_LIMIT_PER_MINUTE": "30"}
        process = launch_bot(telegram.env(), workers.redis_url, tmp_path, **(defaults | env))
        started.append(process)
        return process

    yield start
    for process in started:
        code = await asyncio.to_thread(process.stop)
        print(f"----- bot {process.log_path.name} (exit {code}) -----\n{process.log()[-6000:]}")


async def settled(redis: Redis) -> None:
    """Wait until nothing is left to answer: no photo waiting, no stream entry unacknowledged."""

    async def idle() -> bool:
        waiting = await redis.zcard(DEADLINES_KEY)
        unacked = [
            (await redis.xpending(stream, GROUP))["pending"] for stream in (UPDATES_STREAM, RESULTS_STREAM)
        ]
        return waiting == 0 and unacked == [0, 0]

    await eventually(idle, "every photo answered and every stream entry acknowledged", SETTLED_TIMEOUT_S)


def bot_replies(telegram: FakeTelegram, user: User, after_message_id: int) -> list[str]:
    return [
        m.get("text", "")
        for m in telegram.messages_in(user.id)
        if m["message_id"] > after_message_id and m.get("from", {}).get("id") == telegram.bot.id
    ]


async def send_and_wait_recorded(
    telegram: FakeTelegram, redis: Redis, users: list[User], photo: bytes
) -> list[tuple[User, dict]]:
    """Each user sends `photo`; returns once the bot has recorded every update (bot.intake)."""

    async def added() -> int:  # ever appended to the stream (handled entries are deleted)
        if not await redis.exists(UPDATES_STREAM):
            return 0
        return (await redis.xinfo_stream(UPDATES_STREAM))["entries-added"]

    before = await added()
    sent = [(user, await telegram.send_private_photo(user, photo)) for user in users]

    async def recorded() -> bool:
        return await added() >= before + len(sent)

    await eventually(recorded, f"the bot to record {len(sent)} photo updates", 30)
    return sent


async def webhook_replicas(
    telegram: FakeTelegram,
    bots: Callable[..., BotProcess],
    balancer: LoadBalancer,
    ports: list[int],
    **env: str,
) -> list[BotProcess]:
    """A bot process in webhook mode behind `balancer` on each port; returns once each has set the webhook."""
    mark = len(telegram.calls)
    replicas = [
        bots(
            WEBHOOK_URL=balancer.url("/hook"),
            WEBHOOK_LISTEN="127.0.0.1",
            WEBHOOK_PORT=str(port),
            WEBHOOK_SECRET_TOKEN="replica_secret",
            **env,
        )
        for port in ports
    ]
    await eventually(
        lambda: sum(method == "setWebhook" for method, _ in telegram.calls[mark:]) >= len(ports),
        "every replica to listen and set the webhook",
        START_TIMEOUT_S,
    )
    return replicas


async def answered_once(
    telegram: FakeTelegram, redis: Redis, sent: list[tuple[User, dict]], tag: str
) -> None:
    """Every photo got its hashtag, and after everything settled, nothing else."""
    for user, message in sent:
        await telegram.wait_for_message(
            user.id, after_message_id=message["message_id"], timeout=ANSWER_TIMEOUT_S
        )
    await settled(redis)
    for user, message in sent:
        replies = bot_replies(telegram, user, message["message_id"])
        assert [reply.splitlines()[0] for reply in replies] == [f"#{tag}"], (user.first_name, replies)


async def test_a_bot_killed_with_ten_photos_in_flight_loses_none(telegram, sample: Sample, bots, redis):
    users = [telegram.new_user(f"Kim{i}") for i in range(10)]
    mark = len(telegram.calls)
    first = bots()
    await telegram.wait_for_call("getUpdates", timeout=START_TIMEOUT_S, after=mark)
    recorded_before = await redis.xlen(UPDATES_STREAM)
    sent = [(user, await telegram.send_private_photo(user, sample.photo)) for user in users]

    # The worst moment: every update fetched and recorded (so confirmed to Telegram), few if any answered.
    async def all_recorded() -> bool:
        return await redis.xlen(UPDATES_STREAM) >= recorded_before + len(sent)

    await eventually(all_recorded, "the bot to record the ten photo updates", 30)
    first.kill()
    answered_at_kill = sum(bool(bot_replies(telegram, u, m["message_id"])) for u, m in sent)
    assert answered_at_kill < len(sent), "all answered before the kill: the test proved nothing"

    bots()  # the restarted bot (a new consumer) takes over what the killed one held
    await answered_once(telegram, redis, sent, sample.tag)


async def test_two_webhook_replicas_share_the_work_the_rate_limit_and_survive_a_kill(
    telegram, sample: Sample, bots, redis, postgres_url
):
    ports = [free_port(), free_port()]
    async with LoadBalancer(ports) as balancer:
        replicas = await webhook_replicas(
            telegram, bots, balancer, ports, DATABASE_URL=postgres_url, RATE_LIMIT_PER_MINUTE="3"
        )

        # Every photo answered once, whichever replica received it.
        users = [telegram.new_user(f"Rep{i}") for i in range(6)]
        sent = [(user, await telegram.send_private_photo(user, sample.photo)) for user in users]
        await answered_once(telegram, redis, sent, sample.tag)
        assert all(balancer.served[port] > 0 for port in ports), balancer.served  # both took updates

        # The per-user limit (3 a minute) holds across both: the 4th photo is refused, whichever replica
        # gets it (round robin sends consecutive updates to alternate replicas).
        busy = telegram.new_user("Busy")
        burst = [await telegram.send_private_photo(busy, sample.photo) for _ in range(4)]
        first_id = burst[0]["message_id"] - 1
        await eventually(
            lambda: len(bot_replies(telegram, busy, first_id)) >= 4, "four answers", ANSWER_TIMEOUT_S
        )
        await settled(redis)
        replies = bot_replies(telegram, busy, first_id)
        limited = [r for r in replies if r.startswith(text("rate_limited", "en", seconds=0)[:20])]
        assert len(replies) == 4 and len(limited) == 1, replies

        # One replica killed while photos are in flight (recorded, hardly any answered yet): the other
        # answers all of them, once; Telegram's retries reach it through the load balancer.
        late = [telegram.new_user(f"Late{i}") for i in range(6)]
        in_flight = await send_and_wait_recorded(telegram, redis, late, sample.photo)
        replicas[0].kill()
        assert sum(bool(bot_replies(telegram, u, m["message_id"])) for u, m in in_flight) < len(in_flight)
        await answered_once(telegram, redis, in_flight, sample.tag)


async def test_an_album_spread_over_two_webhook_replicas_is_deleted_whole_with_one_notice(
    telegram, sample: Sample, bots, redis, postgres_url
):
    """Round robin hands an album's photos to alternate replicas: they share the album in Redis (bot.albums),
    so it is judged once, as one post, and every photo of it is deleted in delete mode."""
    ports = [free_port(), free_port()]
    async with LoadBalancer(ports) as balancer:
        await webhook_replicas(
            telegram, bots, balancer, ports, DATABASE_URL=postgres_url, MODERATION_ALBUM_WAIT_SECONDS="2"
        )
        group, admin, spammer = (
            telegram.new_group("Two replicas"),
            telegram.new_user("Ann"),
            telegram.new_user("Sy"),
        )
        await telegram.set_admins(group, [admin])
        sent = await telegram.send_command(group, admin, "/moderation on")
        panel = await telegram.wait_for_message(group.id, after_message_id=sent["message_id"], timeout=60)
        await press(telegram, panel, "set:mode:delete", admin)

        served = dict(balancer.served)
        photos = [sample.photo, reposted(sample.photo), reposted(reposted(sample.photo)), sample.photo]
        album = await telegram.send_album(group, spammer, photos, sample.contradicting)
        ids = {(group.id, m["message_id"]) for m in album}
        await eventually(
            lambda: ids <= set(telegram.deleted_messages), "the whole album to be deleted", ANSWER_TIMEOUT_S
        )
        assert all(balancer.served[port] > served.get(port, 0) for port in ports), balancer.served
        await settled(redis)
        notices = [
            m
            for m in telegram.messages_in(group.id)
            if m["message_id"] > album[-1]["message_id"] and m.get("from", {}).get("id") == telegram.bot.id
        ]
        assert len(notices) == 1 and notices[0]["text"].startswith("I removed an album of 4 photos"), notices


async def test_a_worker_killed_mid_batch_loses_no_photo(telegram, sample: Sample, bots, redis, workers):
    """RQ finds the killed worker's jobs abandoned and retries them on the next worker; the bot answers."""
    env = {"BATCH_SIZE": "8", "ABANDON_GRACE_S": "1", "MAINTENANCE_INTERVAL": "1"}
    for worker in workers.started:  # only the doomed worker takes these photos
        await asyncio.to_thread(worker.terminate)
    doomed = await asyncio.to_thread(workers.start, **env)
    mark = len(telegram.calls)
    bots()
    await telegram.wait_for_call("getUpdates", timeout=START_TIMEOUT_S, after=mark)
    users = [telegram.new_user(f"Wes{i}") for i in range(8)]
    sent = [(user, await telegram.send_private_photo(user, sample.photo)) for user in users]
    with SyncRedis.from_url(workers.redis_url) as connection:
        started = StartedJobRegistry(queue=photo_queue(connection))
        await eventually(lambda: started.count > 0, "the worker to start on the photos", 60)
    doomed.kill()
    answered_at_kill = sum(bool(bot_replies(telegram, u, m["message_id"])) for u, m in sent)
    assert answered_at_kill < len(sent), "the worker finished before it was killed: the test proved nothing"

    await asyncio.to_thread(workers.start, **env)
    await answered_once(telegram, redis, sent, sample.tag)
