"""The deterministic view of a photo the model sees: resize the short side, centre-crop, normalise.

Training, evaluation, the feature cache and serving all use `eval_transform`, so a change here is caught
by the shipped-model accuracy test.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.transforms import v2


def normalize(mean: Sequence[float], std: Sequence[float]) -> v2.Transform:
    return v2.Normalize(list(mean), list(std))


def eval_transform(input_size: int, mean: Sequence[float], std: Sequence[float]) -> v2.Transform:
    """PIL RGB image of any size -> normalised float tensor [3, input_size, input_size]."""
    return v2.Compose(
        [
            v2.ToImage(),
            v2.Resize(input_size, antialias=True),
            v2.CenterCrop(input_size),
            v2.ToDtype(torch.float32, scale=True),
            normalize(mean, std),
        ]
    )
