from __future__ import annotations

from pathlib import Path

import pytest

from ml.tags import ALL_LABELS
from ml.training.labels import DEFAULT_REMAP, load_remap, target_classes, target_indices


def test_project_csv_covers_sun397_with_known_labels() -> None:
    remap = load_remap(DEFAULT_REMAP)
    assert len(remap) == 397
    assert set(remap.values()) <= set(ALL_LABELS)
    assert remap["/a/abbey"] == "church"


def test_thesis_format_and_empty_tag_is_other(tmp_path: Path) -> None:
    path = tmp_path / "thesis.csv"
    path.write_text("raw_names,names,tags\n/a/abbey,abbey,church\n/a/attic,attic,\n/b/beach,beach,#Water\n")
    assert load_remap(path) == {"/a/abbey": "church", "/a/attic": "other", "/b/beach": "water"}
    (tmp_path / "bad.csv").write_text("x,y\n1,2\n")
    with pytest.raises(ValueError, match="sun_class"):
        load_remap(tmp_path / "bad.csv")


def test_targets_scenes_and_tags() -> None:
    scenes = ["/b/beach", "/a/abbey", "/b/beach"]
    remap = {"/a/abbey": "church", "/b/beach": "water"}
    classes = target_classes("scenes", scenes)
    assert classes == ["/a/abbey", "/b/beach"]
    assert target_indices("scenes", classes, scenes, remap) == [1, 0, 1]
    tags = target_classes("tags", scenes)
    assert [tags[i] for i in target_indices("tags", tags, scenes, remap)] == ["water", "church", "water"]
    with pytest.raises(ValueError, match="scenes or tags"):
        target_classes("objects", scenes)
