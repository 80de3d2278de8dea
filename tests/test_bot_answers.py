"""bot.answers: results come back through the stream and every photo is answered once, by whichever
process reads them; a passed deadline is told once; a dead consumer's results are taken over.

Real redis-server; the worker is BatchingWorker in-process with the fake classifier (RQ workers install
signal handlers, so it runs in bursts on the main thread).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from rq.serializers import JSONSerializer

from bot.answers import AnswerLoop
from bot.jobs import Accepted, PhotoJobs
from bot.pending import PendingAnswer, PendingAnswers
from bot.streams import GROUP
from tests.fake_classifier import FakeClassifier, installed_fake
from tests.test_bot_jobs import jpeg, pending_photo
from worker.batching import BatchingWorker
from worker.contract import RESULTS_STREAM
from worker.queue import Classified, Outcome, TimedOut, photo_queue

WAIT_S = 10.0


class Answers:
    """A `deliver` that records what each photo was answered."""

    def __init__(self) -> None:
        self.given: list[tuple[str, Outcome]] = []
        self._more = asyncio.Event()

    async def __call__(self, pending: PendingAnswer, outcome: Outcome) -> None:
        self.given.append((pending.job_id, outcome))
        self._more.set()

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(WAIT_S):
            while len(self.given) < count:
                self._more.clear()
                await self._more.wait()


@pytest.fixture
def model() -> Iterator[FakeClassifier]:
    with installed_fake(default_tta=1) as fake:
        yield fake


class Process:
    """One bot process's Redis side: its client, store, photo jobs and answer loop."""

    def __init__(self, redis_url: str, answers: Answers, claim_idle_s: float = 30.0) -> None:
        self.redis = AsyncRedis.from_url(redis_url)
        self.pending = PendingAnswers(self.redis)
        self.jobs = PhotoJobs(redis_url, self.pending)
        self.loop = AnswerLoop(self.redis, self.pending, self.jobs, answers, claim_idle_s=claim_idle_s)

    async def close(self) -> None:
        await self.loop.stop()
        self.jobs.close()
        await self.redis.aclose()


@pytest.fixture
async def processes(redis_url: str):
    started: list[Process] = []

    def start(answers: Answers, **kwargs: float) -> Process:
        process = Process(redis_url, answers, **kwargs)
        started.append(process)
        return process

    yield start
    for process in started:
        await process.close()


def run_worker(redis_conn: Redis) -> None:
    BatchingWorker([photo_queue(redis_conn)], connection=redis_conn, serializer=JSONSerializer).work(
        burst=True
    )


async def test_two_replicas_answer_each_result_once(processes, redis_conn, idle_worker, model):
    answers = Answers()
    first, second = processes(answers), processes(answers)
    photos = [pending_photo(update_id=100 + i) for i in range(6)]
    for index, photo in enumerate(photos):
        receiver = first if index % 2 else second
        assert await receiver.jobs.submit(jpeg(), photo) == Accepted(photo.job_id)
    run_worker(redis_conn)
    first.loop.start()
    second.loop.start()
    await answers.wait_for(len(photos))
    await asyncio.sleep(0.5)  # a second answer, were there one, would come now
    assert sorted(job_id for job_id, _ in answers.given) == sorted(p.job_id for p in photos)
    assert all(isinstance(o, Classified) and o.result.suggested == "sky" for _, o in answers.given)
    assert await first.redis.xpending(RESULTS_STREAM, GROUP) == {
        "pending": 0,
        "min": None,
        "max": None,
        "consumers": [],
    }  # every entry acknowledged


async def test_a_passed_deadline_is_told_once_and_the_late_result_ignored(
    processes, redis_conn, idle_worker, model
):
    answers = Answers()
    process = processes(answers)
    photo = pending_photo(update_id=200, timeout_s=0.3)
    await process.jobs.submit(jpeg(), photo)
    process.loop.start()
    await answers.wait_for(1)
    ((job_id, outcome),) = answers.given
    assert job_id == photo.job_id and isinstance(outcome, TimedOut)
    assert photo_queue(redis_conn).get_jobs() == []  # cancelled: no worker will classify it later
    # Had the worker finished just then, its result arrives to find the photo answered.
    await process.redis.xadd(RESULTS_STREAM, {"job_id": photo.job_id, "status": "failed", "reason": "late"})
    await asyncio.sleep(1.5)
    assert len(answers.given) == 1


async def test_a_stopped_consumers_results_are_taken_over(processes, redis_conn, idle_worker, model):
    answers = Answers()
    survivor = processes(answers, claim_idle_s=0.3)
    photo = pending_photo(update_id=300)
    await survivor.jobs.submit(jpeg(), photo)
    run_worker(redis_conn)
    # A consumer read the result and was killed before answering it.
    await survivor.redis.xgroup_create(RESULTS_STREAM, GROUP, id="0", mkstream=True)
    taken = await survivor.redis.xreadgroup(GROUP, "killed", {RESULTS_STREAM: ">"}, count=10)
    assert len(taken[0][1]) == 1
    survivor.loop.start()
    await answers.wait_for(1)
    assert answers.given[0][0] == photo.job_id and isinstance(answers.given[0][1], Classified)


async def test_a_result_whose_entry_was_lost_is_answered_at_the_deadline(
    processes, redis_conn, idle_worker, model
):
    answers = Answers()
    process = processes(answers)
    photo = pending_photo(update_id=400, timeout_s=1.0)
    await process.jobs.submit(jpeg(), photo)
    run_worker(redis_conn)
    await process.redis.delete(RESULTS_STREAM)  # the callback's XADD never happened (or was trimmed)
    process.loop.start()
    await answers.wait_for(1)
    ((job_id, outcome),) = answers.given
    assert job_id == photo.job_id
    assert (
        isinstance(outcome, Classified) and outcome.result.suggested == "sky"
    )  # RQ's result, not "too long"
