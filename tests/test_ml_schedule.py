from __future__ import annotations

import itertools
import math

import pytest
import torch

from ml.training.schedule import build_scheduler, cosine_restarts_lr


def eq14(i: int, lr_min: float, lr_max: float, period: int) -> float:
    return lr_min + (lr_max - lr_min) * (1 + math.cos(math.pi * i / period)) / 2


def test_eq14_values_for_period_3() -> None:
    lrs = [cosine_restarts_lr(e, 0.001, 0.1, 3) for e in range(7)]
    assert lrs[:3] == pytest.approx([0.1, 0.001 + 0.099 * 0.75, 0.001 + 0.099 * 0.25])
    assert lrs[3:6] == pytest.approx(lrs[:3])  # warm restart every T epochs
    assert lrs[6] == pytest.approx(0.1)


def test_scheduler_reproduces_eq14_through_an_optimizer() -> None:
    for lr_min, lr_max, period in [(0.001, 0.1, 3), (0.001, 0.1, 50)]:
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr_max)
        scheduler = build_scheduler(optimizer, "cosine-restarts", lr_min=lr_min, lr_max=lr_max, period=period)
        seen = []
        for _ in range(2 * period + 1):
            seen.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        expected = [eq14(e % period, lr_min, lr_max, period) for e in range(2 * period + 1)]
        assert seen == pytest.approx(expected)


def test_per_batch_stepping_hits_eq14_at_whole_epochs_and_decays_within() -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    scheduler = build_scheduler(optimizer, "cosine-restarts", lr_min=0.001, lr_max=0.1, period=3,
                                steps_per_epoch=4)
    seen = []
    for _ in range(12):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert seen[::4] == pytest.approx([eq14(e, 0.001, 0.1, 3) for e in range(3)])
    assert all(a > b for a, b in itertools.pairwise(seen))


def test_constant_schedule_and_unknown_names() -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.05)
    scheduler = build_scheduler(optimizer, "constant", lr_min=0.0, lr_max=0.05, period=1)
    for _ in range(3):
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05)
    with pytest.raises(ValueError, match="cosine-restarts"):
        build_scheduler(optimizer, "step", lr_min=0.0, lr_max=0.05, period=1)
    with pytest.raises(ValueError):
        cosine_restarts_lr(0, 0.001, 0.1, 0)
