"""Small real-data fixtures for the ml tests: a few MiniPlaces photos in SUN397 layout and a tiny model file,
or a clear skip when ../shared (the shared data) is missing."""

from __future__ import annotations

import shutil
from pathlib import Path

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


def make_tiny_model(path: Path) -> Path:
    """An untrained Lite0 with a 3-scene head at TINY_SIZE, saved as a model file (no data needed)."""
    from ml.model import ModelSpec, build_model, default_mean_std, save_model

    classes = ["/" + name for name in TINY_CLASSES]
    mean, std = default_mean_std("efficientnet-lite0")
    model = build_model("efficientnet-lite0", len(classes), TINY_SIZE, weights=None)
    spec = ModelSpec("efficientnet-lite0", TINY_SIZE, mean, std, "scenes", classes,
                     remap={"/a/abbey": "church", "/b/bakery/shop": "shopping", "/c/coffee_shop": "cafe"},
                     threshold=0.5)
    save_model(path, model, spec)
    return path
