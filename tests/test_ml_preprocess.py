from __future__ import annotations

import torch
from PIL import Image

from ml.serving.preprocess import eval_transform


def test_any_photo_becomes_a_normalised_square() -> None:
    transform = eval_transform(32, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    wide = Image.new("RGB", (300, 100), (255, 0, 128))
    out = transform(wide)
    assert out.shape == (3, 32, 32)
    # (1 - 0.5) / 0.25 = 2 for a full channel, (0 - 0.5) / 0.25 = -2 for an empty one
    assert torch.allclose(out[0], torch.full((32, 32), 2.0), atol=1e-4)
    assert torch.allclose(out[1], torch.full((32, 32), -2.0), atol=1e-4)
