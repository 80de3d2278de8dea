"""Committed inputs -> the SUN397 -> hashtag mapping rows.

For each class: clean the name, take its WordNet synset, walk up its hypernyms to the nearest one
the rule table names; a curated override, where there is one, has the last word. Inputs live in
`ml/data/`: `sun397_classes.txt`, `remap_rules.csv` (synset,hashtag,note) and
`remap_overrides.csv` (sun_class,hashtag,reason).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from ml.remap.names import lookup_phrases, parse_sun_class
from ml.remap.wordnet import find_synset, walk_hypernyms
from ml.tags import ALL_LABELS, OTHER

if TYPE_CHECKING:
    from nltk.corpus.reader.wordnet import Synset, WordNetCorpusReader

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
CLASSES_PATH = DATA_DIR / "sun397_classes.txt"
RULES_PATH = DATA_DIR / "remap_rules.csv"
OVERRIDES_PATH = DATA_DIR / "remap_overrides.csv"
MAPPING_PATH = DATA_DIR / "sun397_to_hashtag.csv"
MAPPING_COLUMNS = ("sun_class", "hashtag", "synset", "hypernym", "source")


class Source(StrEnum):
    """What decided a class's hashtag."""

    RULE = "rule"  # the nearest hypernym named in the rule table
    OVERRIDE = "override"  # a curated override (its reason is in remap_overrides.csv)
    NO_SYNSET = "no-synset"  # WordNet knows none of the class's phrases: other
    DEFAULT = "default"  # a synset was found but no hypernym is in the rule table: other


@dataclass(frozen=True)
class MappingRow:
    sun_class: str
    hashtag: str  # one of ml.tags.ALL_LABELS
    synset: str  # the class's WordNet synset, "" when none was found
    hypernym: str  # the nearest hypernym (or the synset itself) the rules name, "" when none
    source: Source


@dataclass(frozen=True)
class Override:
    hashtag: str
    reason: str


def _check_label(label: str, where: str) -> str:
    if label not in ALL_LABELS:
        raise ValueError(f"{where}: unknown hashtag {label!r}; expected one of {', '.join(ALL_LABELS)}")
    return label


def read_classes(path: Path = CLASSES_PATH) -> list[str]:
    classes = path.read_text(encoding="utf-8").split()
    duplicates = sorted({name for name in classes if classes.count(name) > 1})
    if duplicates:
        raise ValueError(f"{path}: duplicate classes {duplicates}")
    return classes


def _read_table(path: Path, key: str) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    keys = [row[key] for row in rows]
    duplicates = sorted({value for value in keys if keys.count(value) > 1})
    if duplicates:
        raise ValueError(f"{path}: duplicate {key} {duplicates}")
    return rows


def read_rules(path: Path = RULES_PATH) -> dict[str, str]:
    """synset name -> hashtag."""
    return {
        row["synset"]: _check_label(row["hashtag"], f"{path}: {row['synset']}")
        for row in _read_table(path, "synset")
    }


def read_overrides(path: Path = OVERRIDES_PATH) -> dict[str, Override]:
    """SUN397 class -> Override; every override must give its reason."""
    overrides = {}
    for row in _read_table(path, "sun_class"):
        where = f"{path}: {row['sun_class']}"
        if not row["reason"].strip():
            raise ValueError(f"{where}: an override needs a reason")
        overrides[row["sun_class"]] = Override(_check_label(row["hashtag"], where), row["reason"].strip())
    return overrides


def match_rule(synset: Synset, rules: Mapping[str, str]) -> str | None:
    """Name of the nearest synset on the hypernym walk (the synset itself first) that has a rule."""
    return next((node.name() for _, node in walk_hypernyms(synset) if node.name() in rules), None)


def decide(
    sun_class: str, synset: str, hypernym: str | None, rules: Mapping[str, str], override: Override | None
) -> MappingRow:
    """The row for one class from what WordNet gave (synset may be "", hypernym None)."""
    if override is not None:
        source, hashtag = Source.OVERRIDE, override.hashtag
    elif not synset:
        source, hashtag = Source.NO_SYNSET, OTHER
    elif hypernym is None:
        source, hashtag = Source.DEFAULT, OTHER
    else:
        source, hashtag = Source.RULE, rules[hypernym]
    return MappingRow(sun_class, hashtag, synset, hypernym or "", source)


def build_rows(
    classes: Sequence[str],
    rules: Mapping[str, str],
    overrides: Mapping[str, Override],
    wordnet: WordNetCorpusReader,
) -> list[MappingRow]:
    unknown = sorted(set(overrides) - set(classes))
    if unknown:
        raise ValueError(f"overrides for classes that are not SUN397 classes: {unknown}")
    rows = []
    for sun_class in classes:
        synset = find_synset(wordnet, lookup_phrases(parse_sun_class(sun_class)))
        hypernym = match_rule(synset, rules) if synset is not None else None
        name = synset.name() if synset is not None else ""
        rows.append(decide(sun_class, name, hypernym, rules, overrides.get(sun_class)))
    return rows


def render_csv(rows: Iterable[MappingRow]) -> str:
    """The mapping file's exact text: header, one row per class in class-list order, LF endings."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(MAPPING_COLUMNS)
    writer.writerows((r.sun_class, r.hashtag, r.synset, r.hypernym, r.source.value) for r in rows)
    return buffer.getvalue()


def read_mapping(path: Path = MAPPING_PATH) -> list[MappingRow]:
    with path.open(encoding="utf-8", newline="") as file:
        return [
            MappingRow(
                row["sun_class"], row["hashtag"], row["synset"], row["hypernym"], Source(row["source"])
            )
            for row in csv.DictReader(file)
        ]
