"""WordNet, offline: find the corpus, look a phrase up, walk its hypernyms.

nltk is imported lazily here so that only `ml remap` needs it; the bot and worker never do.
Search order: NLTK_DATA and nltk's default paths (`python -m nltk.downloader wordnet` puts it
there), then the repository-relative `../shared/data/nltk_data` that developers and CI have.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nltk.corpus.reader.wordnet import Synset, WordNetCorpusReader

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_NLTK_DATA = REPO_ROOT.parent / "shared" / "data" / "nltk_data"
MISSING_MESSAGE = (
    "WordNet data not found. Install it with `python -m nltk.downloader wordnet` "
    "(needs internet) or point NLTK_DATA at a folder holding corpora/wordnet.zip."
)


class WordNetMissingError(RuntimeError):
    """WordNet is in none of the places searched."""


def load_wordnet(extra_paths: Sequence[Path] = (SHARED_NLTK_DATA,)) -> WordNetCorpusReader:
    """The WordNet reader, from nltk's own search path first, then `extra_paths` that exist."""
    import nltk
    from nltk.corpus import wordnet

    for resource in ("corpora/wordnet.zip", "corpora/wordnet"):
        try:
            nltk.data.find(resource)
            break
        except LookupError:
            continue
    else:
        fallback = [str(path) for path in extra_paths if (path / "corpora" / "wordnet.zip").is_file()]
        if not fallback:
            raise WordNetMissingError(MISSING_MESSAGE)
        logger.debug("WordNet not on nltk's path; using %s", fallback[0])
        nltk.data.path.append(fallback[0])
    wordnet.ensure_loaded()
    return wordnet


# A scene is a place or a thing you can photograph: senses outside physical_entity.n.01
# (church as a religion, market as an activity, stage as a phase) are never the scene.
PHYSICAL_ENTITY = "physical_entity.n.01"


def is_physical(synset: Synset) -> bool:
    return any(node.name() == PHYSICAL_ENTITY for _, node in walk_hypernyms(synset))


def find_synset(wordnet: WordNetCorpusReader, phrases: Sequence[str]) -> Synset | None:
    """The most frequent physical noun sense of the first phrase that has one; failing that the
    most frequent noun sense of the first phrase WordNet knows (rainforest is filed under
    vegetation, not land); None when WordNet knows none of the phrases."""
    senses = [wordnet.synsets(phrase, pos="n") for phrase in phrases]
    physical = (synset for synsets in senses for synset in synsets if is_physical(synset))
    known = (synsets[0] for synsets in senses if synsets)
    return next(physical, None) or next(known, None)


def walk_hypernyms(synset: Synset) -> Iterator[tuple[int, Synset]]:
    """(distance, synset) from the synset itself (0) up to the root, breadth first; instance
    hypernyms count as hypernyms; ties at one distance come in name order for reproducibility."""
    seen: set[Any] = {synset}
    level = [synset]
    distance = 0
    while level:
        yield from ((distance, node) for node in level)
        parents = {parent for node in level for parent in node.hypernyms() + node.instance_hypernyms()}
        level = sorted(parents - seen, key=lambda node: node.name())
        seen.update(level)
        distance += 1
