"""Metrics end to end: the real worker process and the real bot (fake Bot API, private Redis) serve
/metrics on their ports, and a photo moves the counters on both sides, labelled with the model version the
worker loaded. Metric logic is tested directly in tests/test_bot_metrics.py and tests/test_worker_metrics.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from redis import Redis

from tests.e2e.conftest import eventually
from tests.services import Sample, free_port, scrape_metrics
from worker.contract import MODEL_INFO_KEY, ModelInfo

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

CLASSIFY_TIMEOUT_S = 60.0  # a photo through Redis and the CPU worker on a busy 2-core machine


@dataclass(frozen=True)
class Ports:
    bot: int
    worker: int


@pytest.fixture(scope="module")
def ports() -> Ports:
    return Ports(bot=free_port(), worker=free_port())


@pytest.fixture(scope="module")
def worker_env(ports: Ports) -> dict[str, str]:
    return {"METRICS_PORT": str(ports.worker)}


@pytest.fixture(scope="module")
def bot_settings(ports: Ports) -> dict[str, object]:
    return {"metrics_port": ports.bot}


@pytest.fixture(scope="module")
def served_model(workers) -> ModelInfo:
    """What the module's worker published when it loaded its model."""
    with Redis.from_url(workers.redis_url) as connection:
        return ModelInfo.model_validate_json(connection.get(MODEL_INFO_KEY))


async def scrape(port: int) -> dict[Sample, float]:
    return await asyncio.to_thread(scrape_metrics, port)


def value(scraped: dict[Sample, float], name: str, **labels: str) -> float:
    return scraped.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_the_worker_serves_the_model_it_loaded(ports, served_model):
    scraped = await scrape(ports.worker)
    model = {"model_name": served_model.model_name, "model_version": served_model.model_version}
    assert value(scraped, "scenetag_model_info", **model) == 1
    assert ("scenetag_worker_batch_size_count", ()) in scraped


async def test_a_photo_and_its_feedback_move_the_bot_and_worker_metrics(
    telegram, bot, sample, ports, served_model
):
    version = served_model.model_version
    bot_before, worker_before = await scrape(ports.bot), await scrape(ports.worker)

    alice = telegram.new_user("Alice")
    sent = await telegram.send_private_photo(alice, sample.photo)
    reply = await telegram.wait_for_message(
        alice.id, lambda m: "text" in m, after_message_id=sent["message_id"], timeout=CLASSIFY_TIMEOUT_S
    )
    assert reply["text"].splitlines()[0] == f"#{sample.tag}"

    def moved(before: dict[Sample, float], after: dict[Sample, float], name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    suggested = {"outcome": "suggested", "model_version": version}
    bot_after: dict[Sample, float] = {}

    async def answer_counted() -> bool:
        bot_after.update(await scrape(ports.bot))
        return moved(bot_before, bot_after, "scenetag_reply_latency_seconds_count", kind="private") == 1

    await eventually(answer_counted, "the bot to count its answer")
    assert moved(bot_before, bot_after, "scenetag_photos_received_total", kind="private") == 1
    assert moved(bot_before, bot_after, "scenetag_photo_outcomes_total", kind="private", **suggested) == 1
    assert value(bot_after, "scenetag_reply_latency_seconds_sum", kind="private") > value(
        bot_before, "scenetag_reply_latency_seconds_sum", kind="private"
    )
    assert value(bot_after, "scenetag_queue_workers") == 1  # the module's worker, as the bot sees it
    assert ("scenetag_queue_depth", ()) in bot_after

    worker_after = await scrape(ports.worker)
    assert moved(worker_before, worker_after, "scenetag_worker_photos_total", **suggested) == 1
    assert moved(worker_before, worker_after, "scenetag_worker_batch_size_count") == 1
    assert moved(worker_before, worker_after, "scenetag_worker_batch_size_sum") == 1  # a batch of one

    buttons = [button for row in reply["reply_markup"]["inline_keyboard"] for button in row]
    (up,) = [button for button in buttons if button["text"] == "👍"]
    query_id = await telegram.press_button(reply, up["callback_data"], alice)
    await telegram.wait_for_call("answerCallbackQuery", lambda p: p["callback_query_id"] == query_id)
    bot_final = await scrape(ports.bot)
    assert moved(bot_after, bot_final, "scenetag_feedback_total", kind="up") == 1
    assert moved(bot_after, bot_final, "scenetag_feedback_total", kind="down") == 0
