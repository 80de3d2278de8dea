"""Finding WordNet offline, synset lookup and the hypernym walk, on real WordNet."""

from __future__ import annotations

from pathlib import Path

import nltk
import pytest

from ml.remap.wordnet import SHARED_NLTK_DATA, WordNetMissingError, find_synset, load_wordnet, walk_hypernyms
from tests.wordnet_support import wordnet_or_skip


def test_missing_wordnet_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    with pytest.raises(WordNetMissingError, match=r"nltk\.downloader wordnet.*NLTK_DATA"):
        load_wordnet(extra_paths=[tmp_path / "nowhere"])


def test_falls_back_to_the_shared_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if not (SHARED_NLTK_DATA / "corpora" / "wordnet.zip").is_file():
        pytest.skip(f"needs ../shared/data/nltk_data (missing: {SHARED_NLTK_DATA})")
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    assert load_wordnet().synset("court.n.04").name() == "court.n.04"
    assert str(SHARED_NLTK_DATA) in nltk.data.path


def test_walk_starts_at_the_synset_and_climbs_by_distance() -> None:
    wordnet = wordnet_or_skip()
    walk = [
        (distance, node.name()) for distance, node in walk_hypernyms(wordnet.synset("volleyball_court.n.01"))
    ]
    assert walk[0] == (0, "volleyball_court.n.01")
    assert (1, "court.n.04") in walk
    assert (2, "playing_field.n.02") in walk
    assert walk[-1][1] == "entity.n.01"
    distances = [distance for distance, _ in walk]
    assert distances == sorted(distances)
    assert len({name for _, name in walk}) == len(walk)


def test_walk_follows_instance_hypernyms() -> None:
    wordnet = wordnet_or_skip()
    names = [node.name() for _, node in walk_hypernyms(wordnet.synset("medina.n.01"))]
    assert "city.n.01" in names


def test_find_synset_prefers_a_physical_sense() -> None:
    wordnet = wordnet_or_skip()
    # church.n.01 is the religious group; the building is church.n.02.
    assert find_synset(wordnet, ["church"]).name() == "church.n.02"
    assert find_synset(wordnet, ["stage"]).name() == "stage.n.03"


def test_find_synset_falls_back_along_the_phrases() -> None:
    wordnet = wordnet_or_skip()
    assert find_synset(wordnet, ["ice_skating_rink", "skating_rink", "rink"]).name() == "rink.n.01"
    assert find_synset(wordnet, ["skatepark"]) is None
    # No physical sense at all: the first sense is still better than nothing.
    assert find_synset(wordnet, ["rainforest"]).name() == "rain_forest.n.01"
