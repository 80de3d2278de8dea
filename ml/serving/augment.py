"""Training augmentations with the reference's single strength knob k, and test-time views built from them.

Strength k (the reference used k=1): rotation up to 10k degrees; a crop of (1-0.1k)..1 of the side with
aspect ratio (1-0.1k)..(1+0.1k); translation up to 0.1k of the side; shear up to 0.05k (as a shear factor);
horizontal flip; brightness, contrast and saturation factors in max(0, 1-0.1k)..1+0.1k and a hue shift up to
0.05k of the colour wheel (hue is a shift, not a factor). Each is applied with probability p = 0.4 + 0.1k.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from PIL import Image
from torchvision.transforms import v2

from ml.serving.preprocess import eval_transform, normalize


def apply_probability(k: float) -> float:
    return min(1.0, 0.4 + 0.1 * k)


def train_transform(input_size: int, mean: Sequence[float], std: Sequence[float], k: float) -> v2.Transform:
    """PIL image -> augmented, normalised tensor [3, input_size, input_size]; k=0 is the plain view."""
    if k <= 0:
        return eval_transform(input_size, mean, std)
    p = apply_probability(k)
    side = max(0.05, 1 - 0.1 * k)
    factor = (max(0.0, 1 - 0.1 * k), 1 + 0.1 * k)
    shear_degrees = math.degrees(math.atan(0.05 * k))

    def maybe(transform: v2.Transform) -> v2.Transform:
        return v2.RandomApply([transform], p=p)

    return v2.Compose(
        [
            v2.ToImage(),
            v2.Resize(input_size, antialias=True),
            v2.CenterCrop(input_size),
            maybe(v2.RandomResizedCrop(input_size, scale=(side * side, 1.0), ratio=(side, 1 + 0.1 * k),
                                       antialias=True)),
            maybe(v2.RandomRotation(10 * k)),
            maybe(v2.RandomAffine(degrees=0, translate=(min(1.0, 0.1 * k),) * 2)),
            maybe(v2.RandomAffine(degrees=0, shear=(-shear_degrees, shear_degrees, -shear_degrees,
                                                    shear_degrees))),
            v2.RandomHorizontalFlip(p=p),
            maybe(v2.ColorJitter(brightness=factor)),
            maybe(v2.ColorJitter(contrast=factor)),
            maybe(v2.ColorJitter(saturation=factor)),
            maybe(v2.ColorJitter(hue=min(0.5, 0.05 * k))),
            v2.ToDtype(torch.float32, scale=True),
            normalize(mean, std),
        ]
    )


def tta_view(
    copy: int, input_size: int, mean: Sequence[float], std: Sequence[float], k: float
) -> Callable[[Image.Image], torch.Tensor]:
    """Test-time copy `copy`: 0 the plain view, 1 its mirror, 2.. the training augmentations with the fixed
    seed `copy`, so the same photo and copy index always give the same tensor."""
    plain = eval_transform(input_size, mean, std)
    if copy == 0:
        return plain
    if copy == 1:
        return lambda image: plain(image).flip(-1)
    augment = train_transform(input_size, mean, std, k)

    def view(image: Image.Image) -> torch.Tensor:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(copy)
            return augment(image)

    return view
