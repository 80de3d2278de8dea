"""Real WordNet for the ml.remap tests, loaded once per test run, or a clear skip."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import pytest

from ml.remap.wordnet import MISSING_MESSAGE, WordNetMissingError, load_wordnet

if TYPE_CHECKING:
    from nltk.corpus.reader.wordnet import WordNetCorpusReader


@lru_cache(maxsize=1)
def _load() -> WordNetCorpusReader | None:
    try:
        return load_wordnet()
    except WordNetMissingError:
        return None


def wordnet_or_skip() -> WordNetCorpusReader:
    wordnet = _load()
    if wordnet is None:
        pytest.skip(f"needs WordNet (CI has it via ../shared/data/nltk_data): {MISSING_MESSAGE}")
    return wordnet
