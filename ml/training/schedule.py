"""Learning-rate schedules: constant, and the reference's cosine annealing with warm restarts.

Eq. (14): lr_i = lr_min + (lr_max - lr_min) * (1 + cos(pi * i / T)) / 2, with i the epoch counted within its
restart period of T epochs (i = epoch mod T), so every T epochs the rate jumps back to lr_max. The scheduler
is stepped per batch with a fractional epoch, so the rate also decays within an epoch (which matters when a
run has only a few epochs); at whole epochs it is eq. (14) exactly.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

SCHEDULES: tuple[str, ...] = ("constant", "cosine-restarts")


def cosine_restarts_lr(epoch: float, lr_min: float, lr_max: float, period: int) -> float:
    """Eq. (14) at a 0-based (possibly fractional) epoch."""
    if period < 1:
        raise ValueError(f"restart period must be >= 1 epoch, got {period}")
    i = epoch % period
    return lr_min + (lr_max - lr_min) * (1 + math.cos(math.pi * i / period)) / 2


def build_scheduler(
    optimizer: torch.optim.Optimizer, schedule: str, *, lr_min: float, lr_max: float, period: int,
    steps_per_epoch: int = 1,
) -> torch.optim.lr_scheduler.LRScheduler:
    """A LambdaLR stepped once per batch (`steps_per_epoch` a epoch); the optimiser's lr must be lr_max."""
    import torch

    if schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    if schedule == "cosine-restarts":
        def factor(step: int) -> float:
            return cosine_restarts_lr(step / steps_per_epoch, lr_min, lr_max, period) / lr_max

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
