"""End-to-end fixtures: the real bot (`build_application`, polling) against the fake Bot API server,
a private redis-server and one real worker process with the shipped model, shared by a whole module.

Scopes: everything here is module-scoped (a worker loads the model once, ~10-30 s on 2 cores) and
runs in the module's event loop; test modules set `pytestmark = pytest.mark.asyncio(loop_scope="module")`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from redis import Redis

from ml.tags import OTHER
from moderation.hashtags import load_vocabulary
from moderation.verdict import THRESHOLDS, Sensitivity, caption_scenes, compatible_probability
from tests.e2e.running_bot import RunningBot, polling_bot
from tests.fake_telegram import FakeTelegram
from tests.services import WorkerProcess, launch_worker, stop_and_show, wait_for
from worker.contract import ClassifyResult
from worker.queue import JobState, build_request, enqueue_photo, fetch_record, photo_queue

# Real photos from the shared MiniPlaces data (classes that map to a popular tag); ml/samples first.
SAMPLE_CLASSES = (
    "c/coffee_shop",
    "s/ski_slope",
    "a/airport_terminal",
    "b/bar",
    "s/stadium",
    "c/church",
    "r/runway",
    "b/bowling_alley",
)
SHARED_TRAIN = Path(__file__).resolve().parents[3] / "shared" / "data" / "miniplaces" / "train"
REPO_SAMPLES = Path(__file__).resolve().parents[2] / "ml" / "samples"


POLL_S = 0.05


async def eventually(condition: Callable[[], object], what: str, seconds: float = 10.0) -> None:
    """Wait until `condition()` (a value or an awaitable) is truthy, or fail naming `what`."""
    for _ in range(int(seconds / POLL_S)):
        if await _value(condition()):
            return
        await asyncio.sleep(POLL_S)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


async def _value(value: object) -> object:
    return await value if asyncio.iscoroutine(value) else value


def buttons(message: dict) -> list[dict]:
    return [button for row in message.get("reply_markup", {}).get("inline_keyboard", []) for button in row]


async def answers_to(telegram, query_ids: list[str]) -> list[str]:
    """The text the bot answered each callback query with."""
    answers = []
    for query_id in query_ids:
        answer = await telegram.wait_for_call(
            "answerCallbackQuery", lambda p, q=query_id: p["callback_query_id"] == q
        )
        answers.append(answer["text"])
    return answers


def replies_to(telegram, chat_id: int, message_id: int) -> list[dict]:
    return [
        m
        for m in telegram.messages_in(chat_id)
        if m.get("from", {}).get("id") == telegram.bot.id
        and m.get("reply_to_message", {}).get("message_id") == message_id
    ]


@dataclass(frozen=True)
class Sample:
    """A photo the model is confident about, with captions that contradict and fit its scene."""

    photo: bytes
    tag: str
    confidence: float
    contradicting: str  # e.g. "#beach #football #mountains"
    compatible: str  # e.g. "#coffee #love"


def candidate_photos() -> list[bytes]:
    """The bundled samples, then two shared photos of each of SAMPLE_CLASSES (CI has ../shared): the
    model abstains on many photos, so a few samples may be too few to find one it suggests a tag for."""
    repo = sorted(p for p in REPO_SAMPLES.glob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    shared = [p for name in SAMPLE_CLASSES for p in sorted((SHARED_TRAIN / name).glob("*.jpg"))[:2]]
    return [p.read_bytes() for p in [*repo, *shared]]


def captions_for(tag: str, probabilities: dict[str, float]) -> tuple[str, str]:
    """Three scene hashtags of the scenes the model finds least likely for the photo (so the test does
    not depend on how sure today's model is), and one hashtag compatible with `tag` plus a neutral one.
    Fails when even those scenes are probable enough to pass the default sensitivity."""
    vocabulary = load_vocabulary()
    entries = vocabulary.entries

    def likelihood(hashtag: str) -> tuple[float, str]:
        return sum(probabilities[t] for t in entries[hashtag]), hashtag

    scene_hashtags = [h for h, tags in entries.items() if tags and tag not in tags and h.isascii()]
    against = sorted(scene_hashtags, key=likelihood)[:3]
    fitting = sorted(h for h, tags in entries.items() if tag in tags and h.isascii())[:1]
    neutral = sorted(h for h, tags in entries.items() if not tags and h.isascii())[:1]
    probability = compatible_probability(probabilities, caption_scenes(against, vocabulary.scene_tags)[1])
    if probability >= THRESHOLDS[Sensitivity.BALANCED]:
        pytest.fail(f"the model gives even {against} {probability:.3f}: no caption contradicts this photo")
    return " ".join(f"#{h}" for h in against), " ".join(f"#{h}" for h in fitting + neutral)


class Workers:
    """The module's worker processes; `start()` adds one (e.g. after Redis lost its registrations)."""

    def __init__(self, redis_url: str, log_dir: Path) -> None:
        self.redis_url, self.log_dir = redis_url, log_dir
        self.started: list[WorkerProcess] = []

    def start(self, **env: str) -> WorkerProcess:
        worker = launch_worker(self.redis_url, self.log_dir, **env)
        self.started.append(worker)
        worker.wait_ready()
        return worker


@pytest.fixture(scope="module")
def worker_env() -> dict[str, str]:
    """Environment variables of the module's first worker; a module overrides this fixture to add some."""
    return {}


@pytest.fixture(scope="module")
def bot_settings() -> dict[str, object]:
    """Settings of the module's bot beyond the defaults below; a module overrides this fixture to add some."""
    return {}


@pytest.fixture(scope="module")
def workers(
    module_redis_url: str, tmp_path_factory: pytest.TempPathFactory, worker_env: dict[str, str]
) -> Iterator[Workers]:
    """Starts with one ready worker (shipped model, TTA 1) on the module's own Redis database."""
    pool = Workers(module_redis_url, tmp_path_factory.mktemp("e2e-workers"))
    try:
        pool.start(**worker_env)
        yield pool
    finally:
        for worker in pool.started:
            stop_and_show(worker)


def classify_directly(redis_url: str, photos: list[bytes], timeout_s: float = 120) -> list[ClassifyResult]:
    """Classify `photos` through the queue and the real worker, without a bot."""
    with Redis.from_url(redis_url) as connection:
        queue = photo_queue(connection)
        job_ids = [enqueue_photo(queue, build_request(photo)).id for photo in photos]
        outcomes = [fetch_record(queue, job_id) for job_id in job_ids]

        def all_done() -> bool:
            outcomes[:] = [fetch_record(queue, job_id) for job_id in job_ids]
            return all(o.state is not JobState.PENDING for o in outcomes)

        wait_for(all_done, timeout_s, f"the worker to classify {len(photos)} sample photos", interval=0.2)
    return [o.result for o in outcomes if o.result is not None]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sample(workers: Workers) -> Sample:
    """The candidate photo the model is most confident about (through the real worker)."""
    photos = candidate_photos()
    results = await asyncio.to_thread(classify_directly, workers.redis_url, photos)
    scored = [
        (result.confidence, result.hashtag, result.probabilities, photo)
        for result, photo in zip(results, photos, strict=True)
        if result.ok and result.suggested and result.hashtag != OTHER
    ]
    if not scored and not SHARED_TRAIN.is_dir():
        pytest.skip(f"the model suggests a tag for none of the {len(photos)} bundled samples, and the shared "
                    f"photos that give it more candidates are missing at {SHARED_TRAIN}")
    if not scored:
        pytest.fail(f"the model suggested a tag for none of {len(photos)} sample photos: {results}")
    confidence, tag, probabilities, photo = max(scored, key=lambda item: item[0])
    contradicting, compatible = captions_for(tag, probabilities)
    return Sample(photo, tag, confidence, contradicting, compatible)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(
    telegram: FakeTelegram,
    workers: Workers,
    tmp_path_factory: pytest.TempPathFactory,
    bot_settings: dict[str, object],
) -> AsyncIterator[RunningBot]:
    """The bot with the module's real worker behind it."""
    async with polling_bot(
        telegram,
        tmp_path_factory.mktemp("e2e-bot"),
        redis_url=workers.redis_url,
        **({"reply_timeout_seconds": 60, "rate_limit_per_minute": 30} | bot_settings),
    ) as running:
        yield running
