"""Caption hashtag extraction and the committed hashtag vocabulary."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from ml.tags import TAGS
from moderation.hashtags import (
    DEFAULT_VOCABULARY_PATH,
    MAX_HASHTAGS,
    extract_hashtags,
    load_vocabulary,
    normalise_hashtag,
    parse_vocabulary,
)


def test_extract_normalises_and_deduplicates_in_order() -> None:
    text = "Sunny day! #Beach #SEA #beach #Море #café #Кофе"
    assert extract_hashtags(text) == ["beach", "sea", "море", "café", "кофе"]


def test_extract_strips_zero_width_and_variation_selectors() -> None:
    assert extract_hashtags("#be\u200bach #na\u200dture\ufe0f #\ufeffsky") == ["beach", "nature", "sky"]


def test_extract_applies_nfkc() -> None:
    # Full-width letters and the full-width number sign fold to ASCII; decomposed é composes.
    assert extract_hashtags("\uff03\uff22\uff45\uff41\uff43\uff48 #cafe\u0301") == ["beach", "café"]


def test_extract_stops_at_emoji_and_punctuation() -> None:
    assert extract_hashtags("#sun☀️#sea, #sky! (#lake) #snow🏂") == ["sun", "sea", "sky", "lake", "snow"]


def test_extract_ignores_mid_word_and_letterless_tags() -> None:
    assert extract_hashtags("mail#tag #2024 ##double #_ #a1 #2_b") == ["double", "a1", "2_b"]


def test_extract_handles_mixed_scripts_and_many_tags() -> None:
    tags = [f"tag{i}" for i in range(300)]
    text = " ".join(f"#{tag}" for tag in tags) + " #природа #自然 #नमस्ते #كلمة"
    assert extract_hashtags(text) == [*tags, "природа", "自然", "नमस्ते", "كلمة"]


def test_extract_skips_keycap_and_emoji_only_tags() -> None:
    assert extract_hashtags("#\ufe0f\u20e3 #1\ufe0f\u20e3 #🌊 #sea🌊") == ["sea"]


def test_extract_is_bounded_on_huge_input() -> None:
    huge = " ".join(f"#t{i}" for i in range(100_000))
    result = extract_hashtags(huge)
    assert 0 < len(result) <= MAX_HASHTAGS
    assert result[0] == "t0"


@pytest.mark.parametrize("value", ["", "no tags here", "#", "# space", None, 42])
def test_extract_never_raises(value: object) -> None:
    assert extract_hashtags(value) == []  # type: ignore[arg-type]


@pytest.mark.parametrize("hostile", ["#" * 8192, "\uff03" * 8192, "#\u200b" * 4096, "\u200b" * 9000 + "#sea"])
def test_extract_handles_hostile_input(hostile: str) -> None:
    # Runs of '#' and invisible characters yield nothing, and text past the bound is not read
    # (speed on such input is measured in benchmarks/bench_vocabulary.py).
    assert extract_hashtags(hostile) == []


def test_normalise_hashtag() -> None:
    assert normalise_hashtag("#ПРИРОДА\u200b") == "природа"


def test_scene_tags_for_scene_neutral_and_unknown() -> None:
    vocab = load_vocabulary()
    assert vocab.scene_tags("beach") == frozenset({"water"})
    assert vocab.scene_tags("#Beach") == frozenset({"water"})
    assert vocab.scene_tags("#ПЛЯЖ") == frozenset({"water"})
    assert vocab.scene_tags("gym") == frozenset({"sport"})
    assert vocab.scene_tags("cof\u200bfee") == frozenset({"cafe"})
    assert vocab.scene_tags("love") == frozenset()
    assert vocab.scene_tags("любовь") == frozenset()
    assert vocab.scene_tags("definitelynotatag") is None


@pytest.mark.parametrize("tag", TAGS)
def test_each_tag_is_its_own_scene_hashtag(tag: str) -> None:
    assert load_vocabulary().scene_tags(tag) == frozenset({tag})


def test_committed_file_is_clean() -> None:
    with DEFAULT_VOCABULARY_PATH.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    hashtags = [row["hashtag"] for row in rows]
    assert len(hashtags) == len(set(hashtags))
    assert {row["lang"] for row in rows} == {"en", "ru"}
    used = set()
    for row in rows:
        if row["scene_tags"] != "neutral":
            used |= set(row["scene_tags"].split(";"))
    assert used == set(TAGS)
    assert len(load_vocabulary()) == len(rows)
    assert dict(load_vocabulary().languages) == {row["hashtag"]: row["lang"] for row in rows}


def test_parse_rejects_unknown_tag_duplicate_and_unnormalised() -> None:
    with pytest.raises(ValueError, match="unknown scene tag"):
        parse_vocabulary([{"hashtag": "beach", "scene_tags": "waterr"}])
    with pytest.raises(ValueError, match="duplicate"):
        parse_vocabulary([{"hashtag": "a", "scene_tags": "water"}, {"hashtag": "a", "scene_tags": "sky"}])
    with pytest.raises(ValueError, match="normalised"):
        parse_vocabulary([{"hashtag": "Beach", "scene_tags": "water"}])
    with pytest.raises(ValueError, match="normalised"):
        parse_vocabulary([{"hashtag": "two words", "scene_tags": "water"}])


def test_load_from_path(tmp_path: Path) -> None:
    path = tmp_path / "vocab.csv"
    path.write_text("hashtag,scene_tags,lang,note\nbeach,water;sky,en,\nlove,neutral,en,\n", encoding="utf-8")
    vocab = load_vocabulary(path)
    assert vocab.scene_tags("beach") == frozenset({"water", "sky"})
    assert vocab.scene_tags("love") == frozenset()
    assert dict(vocab.languages) == {"beach": "en", "love": "en"}
