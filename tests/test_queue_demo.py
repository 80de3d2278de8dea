"""scripts/queue_demo.py's reply line (what `make run` prints without a BOT_TOKEN)."""

from __future__ import annotations

from scripts.queue_demo import describe
from worker.contract import ClassifyResult, TagScore


def test_the_demo_shows_a_ranked_list_with_each_probability_and_one_tag_alone():
    offered = [TagScore(tag="cafe", probability=0.5), TagScore(tag="bar", probability=0.4)]
    listed = ClassifyResult(request_id="r", ok=True, hashtag="cafe", confidence=0.5, suggested="cafe",
                            suggestions=offered)
    assert describe("x.jpg", listed).startswith("x.jpg: #cafe 50% · #bar 40% (top cafe 50%")
    sure = ClassifyResult(request_id="r", ok=True, hashtag="cafe", confidence=0.9, suggested="cafe")
    assert describe("y.jpg", sure).startswith("y.jpg: #cafe (top")
    abstained = ClassifyResult(request_id="r", ok=True, hashtag="other", confidence=0.9)
    assert "no popular tag fits" in describe("z.jpg", abstained)
