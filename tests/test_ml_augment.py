from __future__ import annotations

import torch
from PIL import Image

from ml.serving.augment import apply_probability, train_transform, tta_view
from ml.serving.preprocess import eval_transform

MEAN, STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)


def photo() -> Image.Image:
    image = Image.new("RGB", (96, 64))
    image.putdata([(x * 2, y * 3, (x + y) % 256) for y in range(64) for x in range(96)])
    return image


def test_probability_per_strength() -> None:
    assert apply_probability(1) == 0.5
    assert apply_probability(0) == 0.4


def test_train_transform_shape_and_k0_is_plain_view() -> None:
    out = train_transform(48, MEAN, STD, k=2)(photo())
    assert out.shape == (3, 48, 48) and out.dtype == torch.float32
    assert torch.equal(train_transform(48, MEAN, STD, k=0)(photo()), eval_transform(48, MEAN, STD)(photo()))


def test_tta_views_are_deterministic_and_distinct() -> None:
    views = [tta_view(c, 48, MEAN, STD, k=1) for c in range(6)]
    first = [v(photo()) for v in views]
    again = [v(photo()) for v in views]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert torch.equal(first[0], eval_transform(48, MEAN, STD)(photo()))
    assert torch.equal(first[1], first[0].flip(-1))
    assert sum(not torch.equal(first[0], view) for view in first[2:]) >= 3


def test_tta_view_leaves_global_rng_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    tta_view(4, 32, MEAN, STD, k=1)(photo())
    assert torch.equal(torch.rand(3), expected)
