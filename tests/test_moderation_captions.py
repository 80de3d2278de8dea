"""The caption sets written to evaluate moderation: deterministic, honest ones fit, spam never does."""

from __future__ import annotations

import pytest

from ml.tags import OTHER
from moderation.captions import Kind, compatible_tags, popular_hashtags, write_captions
from moderation.hashtags import load_vocabulary

TRUE_TAGS = ["cafe", "water", "church", OTHER, "sport", "forest", "airport", "cafe"] * 25
PATHS = [f"val/{index:04d}.jpg" for index in range(len(TRUE_TAGS))]
VOCABULARY = load_vocabulary()


@pytest.fixture(scope="module")
def captions():
    return write_captions(TRUE_TAGS, PATHS, VOCABULARY, seed=0)


def scene_and_neutral(hashtags: tuple[str, ...]) -> tuple[list[str], list[str]]:
    scene = [h for h in hashtags if VOCABULARY.scene_tags(h)]
    neutral = [h for h in hashtags if VOCABULARY.scene_tags(h) == frozenset()]
    assert len(scene) + len(neutral) == len(hashtags) == len(set(hashtags))  # all known, no repeats
    return scene, neutral


def test_one_honest_caption_per_scene_photo_and_one_spam_caption_per_photo(captions):
    honest = [c.photo for c in captions if c.kind is Kind.HONEST]
    spam = [c.photo for c in captions if c.kind is Kind.SPAM]
    assert honest == [i for i, tag in enumerate(TRUE_TAGS) if tag != OTHER]
    assert spam == list(range(len(TRUE_TAGS)))


def test_honest_captions_are_the_photos_own_popular_hashtags_with_neutral_ones(captions):
    for caption in (c for c in captions if c.kind is Kind.HONEST):
        tag = TRUE_TAGS[caption.photo]
        scene, neutral = scene_and_neutral(caption.hashtags)
        assert caption.claimed_tag == tag
        assert 1 <= len(scene) <= 3 and 1 <= len(neutral) <= 3
        assert set(scene) <= set(popular_hashtags(VOCABULARY, tag, caption.language))
        assert all(VOCABULARY.languages[h] == caption.language for h in caption.hashtags)


def test_spam_names_one_unrelated_scene_never_compatible_with_the_true_one(captions):
    for caption in (c for c in captions if c.kind is Kind.SPAM):
        true_tag = TRUE_TAGS[caption.photo]
        scene, neutral = scene_and_neutral(caption.hashtags)
        assert 2 <= len(scene) <= 3 and len(neutral) <= 2
        assert caption.claimed_tag != true_tag
        assert all(caption.claimed_tag in VOCABULARY.scene_tags(h) for h in scene)
        if true_tag != OTHER:
            related = compatible_tags(VOCABULARY, true_tag)
            assert caption.claimed_tag not in related
            # No spam hashtag fits the photo's scene or one compatible with it (`#scenery` on a ski slope).
            assert all(not VOCABULARY.scene_tags(h) & related for h in scene)
        # Only scenes some evaluated photo shows: a scene no photo shows would be caught for free.
        assert caption.claimed_tag in set(TRUE_TAGS) - {OTHER}


def test_both_languages_and_varied_lengths_occur(captions):
    assert {c.language for c in captions} == {"en", "ru"}
    assert len({len(c.hashtags) for c in captions}) >= 4
    assert len({c.claimed_tag for c in captions if c.kind is Kind.SPAM}) >= 4


def test_deterministic_and_each_photos_captions_independent_of_the_others(captions):
    assert write_captions(TRUE_TAGS, PATHS, VOCABULARY, seed=0) == captions
    assert write_captions(TRUE_TAGS, PATHS, VOCABULARY, seed=1) != captions
    # The same photo gets the same honest caption in a smaller set (paired comparisons across models).
    few = write_captions(TRUE_TAGS[:3], PATHS[:3], VOCABULARY, seed=0)
    first = [c for c in captions if c.photo < 3 and c.kind is Kind.HONEST]
    assert [c for c in few if c.kind is Kind.HONEST] == first


def test_popular_hashtags_put_the_tags_own_words_first():
    cafe = popular_hashtags(VOCABULARY, "cafe", "en")
    assert cafe[0] == "cafe" and "coffee" in cafe and "bakery" not in cafe[:5]
    assert popular_hashtags(VOCABULARY, "cafe", "ru")[0] == "кофе"


def test_bad_input_is_refused_clearly():
    with pytest.raises(ValueError, match="unknown true tag"):
        write_captions(["kitchen"], ["a.jpg"], VOCABULARY)
    with pytest.raises(ValueError, match="paths"):
        write_captions(["cafe"], [], VOCABULARY)
