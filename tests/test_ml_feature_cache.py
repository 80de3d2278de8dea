from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ml.serving.images import load_image
from ml.serving.model import build_model, default_mean_std
from ml.serving.preprocess import eval_transform
from ml.training.data import scan
from ml.training.feature_cache import build_cache, cache_key, cached_rows, open_cache
from tests.ml_support import TINY_SIZE, make_tiny_data


def test_cache_matches_the_frozen_prefix_and_refuses_other_settings(tmp_path: Path) -> None:
    root = make_tiny_data(tmp_path / "data", per_class=2)
    samples = scan(root)
    model = build_model("efficientnet-lite0", 3, TINY_SIZE, weights=None).eval()
    mean, std = default_mean_std("efficientnet-lite0")
    key = cache_key("efficientnet-lite0", TINY_SIZE, 5, samples, ("plain", "flip"))
    build_cache(tmp_path / "cache", root, samples, model, key, mean=mean, std=std, batch_size=4, workers=0)
    assert cached_rows(tmp_path / "cache", key) == len(samples)
    views = open_cache(tmp_path / "cache", key, len(samples))
    image = eval_transform(TINY_SIZE, mean, std)(load_image(root / samples[3].path))[None]
    with torch.inference_mode():
        expected = model.prefix(image, 5)[0].numpy()
    # ONNX Runtime in fp32, stored as float16: close, not equal
    error = np.abs(views["plain"][3].astype(np.float32) - expected).mean()
    assert error < 0.005 * np.abs(expected).mean() + 1e-3
    assert not np.array_equal(views["plain"][3], views["flip"][3])
    other = cache_key("efficientnet-lite0", TINY_SIZE, 6, samples)
    assert cached_rows(tmp_path / "cache", other) == 0
    with pytest.raises(ValueError, match="other settings"):
        build_cache(tmp_path / "cache", root, samples, model, other, mean=mean, std=std, workers=0)
    with pytest.raises(ValueError):
        cache_key("efficientnet-lite0", TINY_SIZE, 5, samples, ("rotated",))


def test_augmented_views_are_fixed_draws_per_photo(tmp_path: Path) -> None:
    root = make_tiny_data(tmp_path / "data", per_class=2)
    samples = scan(root)
    model = build_model("efficientnet-lite0", 3, TINY_SIZE, weights=None).eval()
    mean, std = default_mean_std("efficientnet-lite0")
    views = ("plain", "aug1", "aug2")
    key = cache_key("efficientnet-lite0", TINY_SIZE, 5, samples, views, augment_strength=2)
    assert key["augment_strength"] == 2
    for folder, batch_size in (("a", 4), ("b", 3)):  # other batch boundaries, same draws
        build_cache(tmp_path / folder, root, samples, model, key, mean=mean, std=std, batch_size=batch_size,
                    workers=0)
    first, again = (open_cache(tmp_path / f, key, len(samples)) for f in ("a", "b"))
    for view in ("aug1", "aug2"):
        np.testing.assert_array_equal(first[view], again[view])
        assert not np.array_equal(first[view], first["plain"])
    assert not np.array_equal(first["aug1"], first["aug2"])
    assert "augment_strength" not in cache_key("efficientnet-lite0", TINY_SIZE, 5, samples, ("plain", "flip"))
    with pytest.raises(ValueError, match="include plain"):
        cache_key("efficientnet-lite0", TINY_SIZE, 5, samples, ("aug1",))
