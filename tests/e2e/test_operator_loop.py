"""The operator's loop end to end, on a tiny model, with the real bot, worker and Redis:

users rate suggestions through the fake Bot API (👍, and 👎 then "which tag fits?") → `ml feedback export`
downloads those photos into a labelled folder → `ml train --init --extra` continues the model on them for
one epoch → `ml compare` judges the candidate on held-out photos → `ml promote` while users keep sending
photos: none is lost, every photo sent after the worker switched is answered by the new version →
`ml promote --canary` and `ml canary report` → `ml rollback` brings the previous version back.
"""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from redis import Redis
from sqlalchemy import select

from ml.cli import main as ml
from ml.serving.model import file_version
from storage.models import Suggestion
from tests.e2e.conftest import buttons, eventually
from tests.ml_support import TINY_SIZE, make_tiny_data, make_tiny_model, shared_data_or_skip
from worker.contract import MODEL_INFO_KEY, ModelInfo

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]
REPLY_TIMEOUT_S = 60.0
TRAIN = ["--input-size", str(TINY_SIZE), "--val-per-class", "1", "--holdout", "0.34", "--batch-size", "4",
         "--workers", "0", "--threads", "1", "--freeze-blocks", "14"]


@pytest.fixture(scope="module")
def loop_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("operator-loop")


@pytest.fixture(scope="module")
def start_model(loop_dir: Path) -> Path:
    """The served model users rate: untrained, with threshold 0 so that it suggests a tag for every photo."""
    return make_tiny_model(loop_dir / "start.pt", size=TINY_SIZE, threshold=0.0)


@dataclass(frozen=True)
class Loop:
    folder: Path  # where the operator works
    photos: Path  # the training photos (SUN397 layout), 6 of each tiny scene
    user_photos: dict[str, list[Path]]  # photos users send, of the same scenes but none of those 6
    start_model: Path  # the version serving when the loop starts


@pytest.fixture(scope="module")
def loop(loop_dir: Path, start_model: Path) -> Loop:
    shared = shared_data_or_skip()
    sent = {scene: sorted((shared / scene).glob("*.jpg"))[6:10] for scene in ("a/abbey", "b/bakery/shop")}
    return Loop(loop_dir, make_tiny_data(loop_dir / "photos", per_class=6), sent, start_model)


@pytest.fixture(scope="module")
def worker_env(start_model: Path, loop_dir: Path) -> dict[str, str]:
    return {"MODEL_PATH": str(start_model), "MODEL_CACHE_DIR": str(loop_dir / "worker-models")}


@pytest.fixture(scope="module")
def operator_env(workers, bot, telegram) -> Iterator[dict[str, str]]:
    """What an operator's shell has: the same Redis, database and Bot API as the services."""
    env = {"REDIS_URL": workers.redis_url, "DATABASE_URL": bot.settings.effective_database_url,
           **telegram.env()}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        yield env


def serving(redis_url: str) -> ModelInfo | None:
    with Redis.from_url(redis_url) as connection:
        raw = connection.get(MODEL_INFO_KEY)
    return ModelInfo.model_validate_json(raw) if raw else None


async def until_serving(redis_url: str, version: str, canary: str | None = None) -> None:
    def switched() -> bool:
        info = serving(redis_url)
        return info is not None and (info.model_version, info.canary_version) == (version, canary)

    await eventually(switched, f"the worker to serve {version} (canary {canary})", seconds=120)


async def send_and_answer(telegram, user, photo: bytes) -> tuple[dict, dict]:
    sent = await telegram.send_private_photo(user, photo)
    reply = await telegram.wait_for_message(
        user.id, lambda m: "text" in m, after_message_id=sent["message_id"], timeout=REPLY_TIMEOUT_S
    )
    return sent, reply


async def versions_of(bot, user_id: int) -> list[str]:
    async with bot.services.sessions() as session:
        rows = await session.scalars(
            select(Suggestion.model_version).where(Suggestion.user_id == user_id).order_by(Suggestion.id)
        )
        return list(rows)


async def test_feedback_retrain_compare_promote_canary_rollback(
    telegram, bot, workers, loop: Loop, operator_env: dict[str, str]
) -> None:
    photos, loop_dir, start_model = loop.photos, loop.folder, loop.start_model
    start = file_version(start_model)
    assert await asyncio.to_thread(ml, ["promote", str(start_model)]) == 0
    await until_serving(workers.redis_url, start)

    # 1. Users rate: the abbey photos are #cafe, says a user after 👎; a 👍 on a bakery photo.
    corrections_counted = corrections_metric() or 0
    abbeys = loop.user_photos["a/abbey"]
    rater = telegram.new_user("Rita")
    for photo in abbeys:
        _, reply = await send_and_answer(telegram, rater, photo.read_bytes())
        _, down = buttons(reply)
        await telegram.press_button(reply, down["callback_data"], rater)
        question = await telegram.wait_for_message(
            rater.id,
            lambda m, r=reply: m["message_id"] == r["message_id"] and "Which tag fits?" in m["text"],
        )
        cafe = next(b["callback_data"] for b in buttons(question) if b["text"] == "#cafe")
        await telegram.press_button(question, cafe, rater)
        await telegram.wait_for_message(
            rater.id, lambda m, r=reply: m["message_id"] == r["message_id"] and "noted" in m["text"]
        )
    bakery = loop.user_photos["b/bakery/shop"][0]
    _, reply = await send_and_answer(telegram, rater, bakery.read_bytes())
    up, _ = buttons(reply)
    await telegram.press_button(reply, up["callback_data"], rater)

    async def rated() -> bool:
        async with bot.services.sessions() as session:
            rows = (await session.scalars(select(Suggestion).where(Suggestion.user_id == rater.id))).all()
        corrected = sum(r.corrected_tag == "cafe" for r in rows)
        return corrected == 4 and sum(r.feedback == "up" for r in rows) == 1

    await eventually(rated, "the ratings to be stored")
    assert corrections_metric() == corrections_counted + 4  # the bot's Prometheus counter (this process)

    # 2. Export them through the Bot API into a labelled folder.
    feedback = loop_dir / "feedback"
    assert await asyncio.to_thread(ml, ["feedback", "export", "--out", str(feedback)]) == 0
    with (feedback / "manifest.csv").open(encoding="utf-8", newline="") as file:
        manifest = list(csv.DictReader(file))
    assert sorted((row["tag"], row["source"]) for row in manifest) == sorted(
        [("cafe", "corrected")] * 4 + [(reply_tag(reply), "up")])
    assert len(list((feedback / "cafe").glob("*.jpg"))) == 4 + (reply_tag(reply) == "cafe")

    # 3. One epoch from the served model with the feedback mixed in; 4. paired comparison, held-out photos.
    run = loop_dir / "candidate"
    assert await asyncio.to_thread(ml, [
        "train", "--data", str(photos), "--init", str(start_model), "--extra", str(feedback),
        "--extra-weight", "5", "--epochs", "1", "--output", str(run), *TRAIN]) == 0
    candidate_model = run / "model.pt"
    candidate = file_version(candidate_model)
    assert await asyncio.to_thread(ml, [
        "compare", str(start_model), str(candidate_model), "--data", str(photos),
        "--split", str(run / "split.json"), "--json", str(loop_dir / "compare.json")]) == 0
    verdict = json.loads((loop_dir / "compare.json").read_text())
    assert verdict["decision"] in {"better", "no significant difference", "worse"}
    assert verdict["photos"] == 6 and verdict["part"] == "heldout"  # never trained on

    # 5. Promote while users keep sending photos: every photo answered once, later ones by the candidate.
    senders = [telegram.new_user(f"Sender {i}") for i in range(6)]
    flowing = [asyncio.create_task(send_and_answer(telegram, user, abbeys[i % 4].read_bytes()))
               for i, user in enumerate(senders[:3])]
    assert await asyncio.to_thread(ml, ["promote", str(candidate_model)]) == 0
    await until_serving(workers.redis_url, candidate)
    flowing += [asyncio.create_task(send_and_answer(telegram, user, abbeys[i % 4].read_bytes()))
                for i, user in enumerate(senders[3:])]
    await asyncio.gather(*flowing)
    await asyncio.sleep(1)  # time for a second answer, were there one
    for user in senders:  # one photo each, answered exactly once
        assert len([m for m in telegram.messages_in(user.id) if m["from"]["id"] == telegram.bot.id]) == 1
    for user in senders[3:]:  # sent after the worker said it switched
        assert await versions_of(bot, user.id) == [candidate]
    assert {v for user in senders[:3] for v in await versions_of(bot, user.id)} <= {start, candidate}

    # 6. Roll back to the previous version, then try the candidate again as a canary on half the photos.
    assert await asyncio.to_thread(ml, ["rollback"]) == 0
    await until_serving(workers.redis_url, start)
    late = telegram.new_user("Late")
    await send_and_answer(telegram, late, bakery.read_bytes())
    assert await versions_of(bot, late.id) == [start]
    assert await asyncio.to_thread(ml, ["promote", str(candidate_model), "--canary", "50"]) == 0
    await until_serving(workers.redis_url, start, canary=candidate)
    assert await asyncio.to_thread(ml, ["canary", "report", "--json"]) == 0


def corrections_metric() -> float | None:
    return REGISTRY.get_sample_value("scenetag_feedback_total", {"kind": "corrected"})


def reply_tag(reply: dict) -> str:
    return reply["text"].splitlines()[0].removeprefix("#")
