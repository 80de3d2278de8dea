"""The remap audit: counts, missing synsets, override disagreements, thesis diff."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml.remap.build import MappingRow, Override, Source
from ml.remap.report import override_disagreements, read_thesis, render_report, tag_counts, thesis_diff

SHARED_THESIS = (
    Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "thesis_sun397_to_hashtag.csv"
)

RULES = {"court.n.04": "sport", "gallery.n.06": "art"}
ROWS = [
    MappingRow("/b/boxing_ring", "sport", "boxing_ring.n.01", "", Source.OVERRIDE),
    MappingRow("/a/amphitheater", "architecture", "amphitheater.n.01", "gallery.n.06", Source.OVERRIDE),
    MappingRow("/t/tennis_court", "sport", "tennis_court.n.01", "court.n.04", Source.RULE),
    MappingRow("/s/skatepark", "other", "", "", Source.NO_SYNSET),
]
OVERRIDES = {
    "/b/boxing_ring": Override("sport", "a sport"),
    "/a/amphitheater": Override("architecture", "ruins"),
}


def test_tag_counts_by_source() -> None:
    counts = tag_counts(ROWS)
    assert counts["sport"] == {Source.OVERRIDE: 1, Source.RULE: 1}
    assert counts["other"] == {Source.NO_SYNSET: 1}
    assert sum(counts["sky"].values()) == 0


def test_override_disagreements_compare_with_the_rule() -> None:
    assert override_disagreements(ROWS, RULES) == [(ROWS[0], "other"), (ROWS[1], "art")]


def test_thesis_diff_explains_each_difference() -> None:
    thesis = {"/b/boxing_ring": "sport", "/a/amphitheater": "art", "/t/tennis_court": "sport"}
    diffs = thesis_diff(ROWS, thesis, OVERRIDES)
    assert [(d.sun_class, d.thesis, d.ours, d.why) for d in diffs] == [
        ("/a/amphitheater", "art", "architecture", "ruins"),
        ("/s/skatepark", "(missing)", "other", "-"),
    ]


def test_render_report_sections() -> None:
    text = render_report(ROWS, RULES, OVERRIDES, thesis=None)
    assert "4 classes" in text
    assert "no WordNet synset (1)" in text and "/s/skatepark" in text
    assert "change the rule's answer (2)" in text
    assert "sky" in text and "<- thin" in text
    assert "Thesis table not found" in text


def test_read_thesis_treats_empty_tag_as_other() -> None:
    if not SHARED_THESIS.is_file():
        pytest.skip(f"needs the thesis table at {SHARED_THESIS}")
    thesis = read_thesis(SHARED_THESIS)
    assert len(thesis) == 397
    assert thesis["/a/amphitheater"] == "art"
    assert thesis["/s/skyscraper"] == "other"
