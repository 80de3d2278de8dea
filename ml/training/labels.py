"""Scene -> hashtag remap tables and the training targets derived from them.

Reads the project's `ml/data/sun397_to_hashtag.csv` (columns `sun_class,hashtag,...`) and, for comparison,
the thesis table (columns `raw_names,...,tags`, empty tag = other). Plain csv: serving never needs this,
since the model file embeds the remap it was trained with.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from ml.tags import ALL_LABELS, OTHER

TARGETS: tuple[str, ...] = ("scenes", "tags")
DEFAULT_REMAP = Path(__file__).resolve().parents[1] / "data" / "sun397_to_hashtag.csv"


def load_remap(path: str | Path = DEFAULT_REMAP) -> dict[str, str]:
    """scene class -> label of ALL_LABELS; unknown or empty hashtags become `other`."""
    with Path(path).open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ValueError(f"{path}: empty remap table")
    scene_col, tag_col = ("sun_class", "hashtag") if "sun_class" in rows[0] else ("raw_names", "tags")
    if scene_col not in rows[0] or tag_col not in rows[0]:
        raise ValueError(f"{path}: expected columns sun_class,hashtag (or the thesis's raw_names,tags)")
    remap = {}
    for row in rows:
        tag = (row[tag_col] or "").strip().lstrip("#").casefold()
        remap[row[scene_col].strip()] = tag if tag in ALL_LABELS else OTHER
    return remap


def target_classes(target: str, scenes: Sequence[str]) -> list[str]:
    """The head's output classes: the sorted scene classes, or ALL_LABELS for a tag-target model."""
    if target == "scenes":
        return sorted(set(scenes))
    if target == "tags":
        return list(ALL_LABELS)
    raise ValueError(f"unknown target {target!r}; choose scenes or tags")


def target_indices(target: str, classes: Sequence[str], scenes: Sequence[str],
                   remap: dict[str, str]) -> list[int]:
    """Each photo's index into `classes`."""
    index = {name: i for i, name in enumerate(classes)}
    if target == "scenes":
        return [index[scene] for scene in scenes]
    return [index[remap.get(scene, OTHER)] for scene in scenes]
