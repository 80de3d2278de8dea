"""Caption sets written for photos whose true scene tag is known, to measure the moderation decision.

For each photo (deterministic: the captions depend only on the seed, the photo's path and true tag,
so two models evaluated on the same photos see the same captions):
- one **honest** caption: 1-3 of its own tag's popular hashtags mixed with 1-3 neutral ones
  (`#travel #summer #love`), in English or Russian. Photos whose true tag is `other` have no scene
  hashtag to be honest with, so they get none;
- one **spam** caption: 2-3 hashtags of one unrelated tag (never the true tag, nor a tag that shares a
  vocabulary hashtag with it) with 0-2 neutral ones, in the same language. Nor may a spam hashtag also
  fit a tag compatible with the true one (`#scenery` fits snow as well as forest: on a ski slope photo
  it is no spam).

A tag's *popular* hashtags are the vocabulary's hashtags compatible with it, those naming only that tag
first (its own words, `#coffee` for cafe), then shared ones (`#breakfast`), at most `POPULAR` per
language, in the vocabulary's order. Spam is drawn from the tags that are some photo's true tag: a
tag no evaluated photo shows (one the model was never trained on) would be caught for free.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from ml.tags import OTHER, TAGS
from moderation.hashtags import HashtagVocabulary

POPULAR = 10  # popular hashtags per tag and language
LANGUAGES = ("en", "ru")


class Kind(StrEnum):
    HONEST = "honest"  # the photo's own scene: flagging it is a false flag
    SPAM = "spam"  # an unrelated scene: flagging it is a catch


@dataclass(frozen=True)
class Caption:
    photo: int  # index of the photo in the evaluated set
    kind: Kind
    language: str  # "en" / "ru"
    claimed_tag: str  # the scene tag its scene hashtags were drawn for
    hashtags: tuple[str, ...]  # normalised, without '#', in caption order

    @property
    def text(self) -> str:
        return " ".join(f"#{hashtag}" for hashtag in self.hashtags)


def popular_hashtags(
    vocabulary: HashtagVocabulary, tag: str, language: str, avoiding: frozenset[str] = frozenset()
) -> list[str]:
    """The tag's popular hashtags in `language`, its own words first, then shared ones; hashtags that
    also fit a tag in `avoiding` are left out."""
    compatible = [
        hashtag
        for hashtag, tags in vocabulary.entries.items()
        if tag in tags and not tags & avoiding and vocabulary.languages.get(hashtag) == language
    ]
    own = [hashtag for hashtag in compatible if vocabulary.entries[hashtag] == {tag}]
    return (own + [hashtag for hashtag in compatible if hashtag not in own])[:POPULAR]


def neutral_hashtags(vocabulary: HashtagVocabulary, language: str) -> list[str]:
    entries, languages = vocabulary.entries, vocabulary.languages
    return [hashtag for hashtag, tags in entries.items() if not tags and languages.get(hashtag) == language]


def compatible_tags(vocabulary: HashtagVocabulary, tag: str) -> frozenset[str]:
    """The tag and every tag that shares a vocabulary hashtag with it (a caption may fairly mix them)."""
    shared = {other for tags in vocabulary.entries.values() if tag in tags for other in tags}
    return frozenset({tag} | shared)


def spam_choices(
    vocabulary: HashtagVocabulary, true_tag: str, candidates: Sequence[str], language: str
) -> dict[str, list[str]]:
    """Unrelated tag -> its popular hashtags that fit no tag compatible with `true_tag` (so no spam
    hashtag could fairly describe the photo), for the candidates with at least two such hashtags."""
    related = compatible_tags(vocabulary, true_tag)
    choices = {
        tag: popular_hashtags(vocabulary, tag, language, avoiding=related)
        for tag in candidates
        if tag not in related
    }
    return {tag: hashtags for tag, hashtags in choices.items() if len(hashtags) >= 2}


def _mix(rng: random.Random, scene: Sequence[str], neutral: Sequence[str]) -> tuple[str, ...]:
    hashtags = [*scene, *neutral]
    rng.shuffle(hashtags)
    return tuple(hashtags)


def write_captions(
    true_tags: Sequence[str],
    paths: Sequence[str],
    vocabulary: HashtagVocabulary,
    *,
    seed: int = 0,
) -> list[Caption]:
    """An honest caption (unless the true tag is `other`) and a spam caption for every photo."""
    if len(true_tags) != len(paths):
        raise ValueError(f"{len(true_tags)} true tags for {len(paths)} paths")
    unknown = sorted(set(true_tags) - {*TAGS, OTHER})
    if unknown:
        raise ValueError(f"unknown true tag(s) {unknown}: expected labels of ml.tags.ALL_LABELS")
    popular = {(tag, lang): popular_hashtags(vocabulary, tag, lang) for tag in TAGS for lang in LANGUAGES}
    neutral = {lang: neutral_hashtags(vocabulary, lang) for lang in LANGUAGES}
    shown = sorted(set(true_tags) - {OTHER})
    spam = {
        (tag, lang): spam_choices(vocabulary, tag, shown, lang) for tag in {*true_tags} for lang in LANGUAGES
    }
    captions: list[Caption] = []
    for index, (tag, path) in enumerate(zip(true_tags, paths, strict=True)):
        rng = random.Random(f"{seed}/{path}")  # str seeds hash the same in every run and process
        language = rng.choice(LANGUAGES)
        if tag != OTHER:
            own = popular[(tag, language)]
            scene = rng.sample(own, min(len(own), rng.randint(1, 3)))
            extra = rng.sample(neutral[language], rng.randint(1, 3))
            captions.append(Caption(index, Kind.HONEST, language, tag, _mix(rng, scene, extra)))
        choices = spam[(tag, language)]
        if choices:
            unrelated = rng.choice(sorted(choices))
            theirs = choices[unrelated]
            scene = rng.sample(theirs, min(len(theirs), rng.randint(2, 3)))
            extra = rng.sample(neutral[language], rng.randint(0, 2))
            captions.append(Caption(index, Kind.SPAM, language, unrelated, _mix(rng, scene, extra)))
    return captions
