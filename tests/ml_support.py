"""Small real-data fixtures for the ml tests: a few MiniPlaces photos in SUN397 layout and a tiny model file,
or a clear skip when ../shared (the shared data) is missing."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "miniplaces" / "train"
# Three scenes with three different tags under the project's remap (church, shopping, cafe).
TINY_CLASSES = ("a/abbey", "b/bakery/shop", "c/coffee_shop")
TINY_SIZE = 64  # input side for fast CPU tests


def shared_data_or_skip() -> Path:
    if not (SHARED_DATA / "a" / "abbey").is_dir():
        pytest.skip(f"needs the shared MiniPlaces photos at {SHARED_DATA} (../shared from the repo root)")
    return SHARED_DATA


def make_tiny_data(folder: Path, per_class: int = 6) -> Path:
    """`per_class` real photos of each of TINY_CLASSES, copied into folder in SUN397 layout."""
    source = shared_data_or_skip()
    for name in TINY_CLASSES:
        (folder / name).mkdir(parents=True, exist_ok=True)
        for photo in sorted((source / name).glob("*.jpg"))[:per_class]:
            shutil.copy(photo, folder / name / photo.name)
    return folder


def make_tiny_model(
    path: Path, backbone: str = "efficientnet-lite0", size: int = TINY_SIZE, classes: int = len(TINY_CLASSES),
    **spec_fields: Any,
) -> Path:
    """An untrained network with a head for the first `classes` of TINY_CLASSES at `size`, saved as a model
    file (no data needed); `spec_fields` override ModelSpec fields (threshold 0.5 and the three
    scenes' tags unless given)."""
    from ml.serving.model import ModelSpec, build_model, default_mean_std, save_model

    names = ["/" + name for name in TINY_CLASSES[:classes]]
    mean, std = default_mean_std(backbone)
    model = build_model(backbone, len(names), size, weights=None)
    defaults = {"threshold": 0.5,
                "remap": {"/a/abbey": "church", "/b/bakery/shop": "shopping", "/c/coffee_shop": "cafe"}}
    spec = ModelSpec(backbone, size, mean, std, "scenes", names, **{**defaults, **spec_fields})
    save_model(path, model, spec)
    return path
