"""Caption hashtags and the scene tags they are compatible with.

The moderation feature reads the hashtags of a caption (`extract_hashtags`) and asks the committed
vocabulary (`moderation/data/hashtag_vocabulary.csv`) which scene tags each one is compatible with. Pure and
small on purpose: the bot imports it, so no telegram, rq, database or nltk imports here.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

from ml.tags import TAGS

DEFAULT_VOCABULARY_PATH = Path(__file__).parent / "data" / "hashtag_vocabulary.csv"
NEUTRAL = "neutral"

# Bounds keep the work linear and small whatever a spammer sends: a Telegram caption is at most
# 1024 characters and a message 4096, so 8192 leaves room; 500 distinct tags is far beyond real use.
MAX_TEXT_CHARS = 8192
MAX_HASHTAGS = 500

# Invisible characters that split or disguise a tag without changing how it reads: zero-width
# space/joiners, word joiner, BOM, soft hyphen, Mongolian vowel separator, and variation selectors.
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u2060-\u2064\ufeff\ufe00-\ufe0f\U000e0100-\U000e01ef]")


def _is_tag_char(char: str) -> bool:
    """Letters, digits and marks of any script, and underscore. Marks matter: Devanagari vowel signs
    and viramas are marks, and a regex `\\w` would cut `#नमस्ते` short."""
    return char == "_" or unicodedata.category(char)[0] in "LNM"


def _scan_hashtags(text: str) -> Iterator[str]:
    """Tags after `#`, linear in len(text). A `#` inside a word (`mail#tag`) starts no tag, as on
    Telegram and Instagram; a run of `#` counts as one (`##tag` -> `tag`)."""
    index, end = 0, len(text)
    while index < end:
        if text[index] != "#" or (index and (text[index - 1] == "#" or _is_tag_char(text[index - 1]))):
            index += 1
            continue
        start = index
        while start < end and text[start] == "#":
            start += 1
        stop = start
        while stop < end and _is_tag_char(text[stop]):
            stop += 1
        if stop > start:
            yield text[start:stop]
        index = stop


def _normalise_text(text: str) -> str:
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", _INVISIBLE.sub("", text))).casefold()


def normalise_hashtag(hashtag: str) -> str:
    """`#Café\u200b` -> `café`: the form the vocabulary is keyed by."""
    return _normalise_text(hashtag).lstrip("#")


def extract_hashtags(text: str) -> list[str]:
    """Hashtags of a caption, normalised and without '#', de-duplicated in order of appearance.

    Tags without a letter (`#2024`, `#_`) are skipped: Instagram does not link them and they say
    nothing about the scene. Never raises; anything that is not a string yields no hashtags.
    """
    if not isinstance(text, str):
        return []
    seen: dict[str, None] = {}
    for tag in _scan_hashtags(_normalise_text(text[:MAX_TEXT_CHARS])):
        if tag not in seen and any(char.isalpha() for char in tag):
            seen[tag] = None
            if len(seen) >= MAX_HASHTAGS:
                break
    return list(seen)


@dataclass(frozen=True)
class HashtagVocabulary:
    """Normalised hashtag -> compatible scene tags (empty for a known neutral hashtag), in file order."""

    entries: Mapping[str, frozenset[str]]
    languages: Mapping[str, str] = field(default_factory=dict)  # hashtag -> "en" / "ru", when given

    def scene_tags(self, hashtag: str) -> frozenset[str] | None:
        """Compatible scene tags of a raw or normalised hashtag: a non-empty set for a scene
        hashtag, an empty set for a known neutral one, None for an unknown one."""
        return self.entries.get(normalise_hashtag(hashtag))

    def __len__(self) -> int:
        return len(self.entries)


def parse_scene_tags(value: str) -> frozenset[str]:
    """`water;nature` -> {"water", "nature"}; `neutral` -> empty set. Raises ValueError on an unknown tag."""
    value = value.strip()
    if value == NEUTRAL:
        return frozenset()
    tags = frozenset(part.strip() for part in value.split(";"))
    unknown = sorted(tags - set(TAGS))
    if unknown:
        raise ValueError(f"unknown scene tag(s) {unknown}; expected {NEUTRAL!r} or tags from ml.tags.TAGS")
    return tags


def parse_vocabulary(rows: list[dict[str, str]]) -> HashtagVocabulary:
    """Validates CSV rows (columns hashtag, scene_tags, ...): normalised, unique, known tags."""
    entries: dict[str, frozenset[str]] = {}
    languages: dict[str, str] = {}
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        hashtag = row["hashtag"]
        if not hashtag or normalise_hashtag(hashtag) != hashtag or not all(map(_is_tag_char, hashtag)):
            raise ValueError(f"line {line}: hashtag {hashtag!r} is not in normalised form")
        if hashtag in entries:
            raise ValueError(f"line {line}: duplicate hashtag {hashtag!r}")
        try:
            entries[hashtag] = parse_scene_tags(row["scene_tags"])
        except ValueError as error:
            raise ValueError(f"line {line}: {hashtag!r}: {error}") from None
        if row.get("lang"):
            languages[hashtag] = row["lang"]
    return HashtagVocabulary(MappingProxyType(entries), MappingProxyType(languages))


@lru_cache(maxsize=4)
def load_vocabulary(path: Path | None = None) -> HashtagVocabulary:
    """The committed vocabulary (or the CSV at `path`), parsed once per path."""
    with (path or DEFAULT_VOCABULARY_PATH).open(encoding="utf-8", newline="") as file:
        return parse_vocabulary(list(csv.DictReader(file)))
