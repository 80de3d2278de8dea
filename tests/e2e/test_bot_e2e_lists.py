"""Ranked lists end to end: the real bot and a real worker serving a model file with a list rule
(`ModelSpec.list_mass` > 0). The model is tiny and untrained, so it gives each of its three tags about a
third and none reaches its 0.99 threshold: every photo gets a list, which makes the reply deterministic.
The rule itself (`ml.serving.inference.ranked_suggestions`) is tested in tests/test_ml_inference.py.
"""

from __future__ import annotations

import pytest

from bot.i18n import text
from storage.models import Suggestion
from tests.e2e.conftest import answers_to, buttons
from tests.fake_classifier import blue_jpeg
from tests.ml_support import make_tiny_model

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

CLASSIFY_TIMEOUT_S = 60.0  # a photo through Redis and the CPU worker on a busy 2-core machine
TINY_TAGS = {"church", "shopping", "cafe"}  # make_tiny_model's three scenes


@pytest.fixture(scope="module")
def worker_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("list-model")
    model = make_tiny_model(folder / "lists.pt", threshold=0.99, list_mass=0.05)
    return {"MODEL_PATH": str(model), "ONNX_CACHE_DIR": str(folder / "onnx")}


async def test_a_list_reply_then_thumbs_up_asks_which_one_once_and_stores_the_pick(telegram, bot, workers):
    gail = telegram.new_user("Gail")
    sent = await telegram.send_private_photo(gail, blue_jpeg())
    reply = await telegram.wait_for_message(
        gail.id, lambda m: "text" in m, after_message_id=sent["message_id"], timeout=CLASSIFY_TIMEOUT_S
    )
    first, *rest = reply["text"].splitlines()
    listed = [tag.removeprefix("#") for tag in first.split(" · ")]
    assert len(listed) == 2 and set(listed) <= TINY_TAGS, reply["text"]
    assert "most likely first" in reply["text"] and "%" in rest[-1]

    up, _ = buttons(reply)
    suggestion_id = int(up["callback_data"].split(":")[1])
    calls_before = len(telegram.calls)
    presses = [await telegram.press_button(reply, up["callback_data"], gail) for _ in range(2)]
    expected = [text("which_listed", "en"), text("feedback_already", "en")]
    assert sorted(await answers_to(telegram, presses)) == sorted(expected)
    question = await telegram.wait_for_message(
        gail.id, lambda m: m["message_id"] == reply["message_id"] and text("which_listed", "en") in m["text"]
    )
    assert [button["text"] for button in buttons(question)] == [f"#{tag}" for tag in listed]  # no "none"
    edits = [p for m, p in telegram.calls[calls_before:] if m == "editMessageText"]
    assert len(edits) == 1  # asked once

    picked = buttons(question)[1]
    await telegram.press_button(question, picked["callback_data"], gail)
    noted = await telegram.wait_for_message(
        gail.id, lambda m: m["message_id"] == reply["message_id"] and "noted" in m["text"]
    )
    assert buttons(noted) == [] and picked["text"] in noted["text"]
    async with bot.services.sessions() as session:
        suggestion = await session.get(Suggestion, suggestion_id)
    assert (suggestion.feedback, suggestion.tag, suggestion.corrected_tag) == ("up", listed[0], listed[1])
    assert [entry["tag"] for entry in suggestion.offered] == listed
    assert suggestion.offered[0]["probability"] >= suggestion.offered[1]["probability"] > 0
