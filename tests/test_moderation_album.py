"""moderation.album: an album is one post, as compatible as its most compatible photo."""

from __future__ import annotations

import pytest

from moderation.album import album_hashtags, judge_album
from moderation.verdict import Action, Reason
from tests.test_moderation_verdict import CAFE, ON, lookup, photo

BEACH = photo(water=0.7, nature=0.2)


def test_the_albums_hashtags_are_every_captions_in_photo_order():
    assert album_hashtags(["#beach #Sport", None, "", "#coffee"]) == ["beach", "sport", "coffee"]
    assert album_hashtags([None, None]) == []


def test_one_photo_that_shows_a_caption_scene_clears_the_album():
    deciding, verdict = judge_album(["beach", "sport"], lookup, [CAFE, BEACH, CAFE], ON)
    assert (deciding, verdict.action, verdict.reason) == (1, Action.NONE, Reason.COMPATIBLE)


def test_an_album_is_flagged_only_when_every_photo_contradicts_the_caption():
    cafe_too = photo(cafe=0.8, home=0.001, water=0.002)
    deciding, verdict = judge_album(["beach", "sport"], lookup, [CAFE, cafe_too], ON)
    assert (verdict.action, verdict.reason) == (Action.FLAG, Reason.MISMATCH)
    # The photo the notice describes is the one closest to the caption: the album's best case.
    assert deciding == 1 and verdict.compatible_probability == pytest.approx(0.002)


def test_a_caption_with_nothing_to_judge_is_judged_the_same_for_any_photo():
    deciding, verdict = judge_album(["love"], lookup, [CAFE, BEACH], ON)
    assert (deciding, verdict.reason) == (0, Reason.TOO_FEW_HASHTAGS)


def test_an_album_without_a_classified_photo_has_no_verdict():
    with pytest.raises(ValueError, match="at least one"):
        judge_album(["beach", "sport"], lookup, [], ON)
