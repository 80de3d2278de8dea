"""scripts/queue_demo.py's reply line (what `make run` prints without a BOT_TOKEN)."""

from __future__ import annotations

from bot.replies import suggestion_text
from scripts.queue_demo import MARGIN, describe
from worker.contract import ClassifyResult, TagScore


def test_the_demo_prints_the_bots_reply_for_a_list_a_single_tag_and_an_abstention():
    offered = [TagScore(tag="cafe", probability=0.5), TagScore(tag="bar", probability=0.4)]
    listed = ClassifyResult(request_id="r", ok=True, hashtag="cafe", confidence=0.5, suggested="cafe",
                            suggestions=offered, probabilities={"cafe": 0.5, "bar": 0.4})
    shown = describe("x.jpg", listed)
    assert shown.startswith("x.jpg (top cafe 50%") and "\n  #cafe · #bar\n" in shown
    assert suggestion_text(listed, "en", MARGIN).replace("\n", "\n  ") in shown
    sure = ClassifyResult(request_id="r", ok=True, hashtag="cafe", confidence=0.9, suggested="cafe",
                          suggestions=[TagScore(tag="cafe", probability=0.9)], probabilities={"cafe": 0.9})
    assert "\n  #cafe\n" in describe("y.jpg", sure)
    abstained = ClassifyResult(request_id="r", ok=True, hashtag="other", confidence=0.9)
    assert describe("z.jpg", abstained).endswith(suggestion_text(abstained, "en", MARGIN))
