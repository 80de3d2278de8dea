"""`TrainConfig`: every option of `ml train`, fixed once from the parsed command line (their help is in
ml/cli/train.py). The training loop reads it and never changes it; checkpoints keep the command line's
plain values (`stored_args`) so that `ml train --resume RUN` can rebuild it."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TrainConfig:
    # data
    data: Path
    output: Path
    remap: str
    split: str | None
    split_lists: tuple[str, str] | None
    holdout: float
    val_per_class: int
    seed: int
    workers: int
    extra: str | None
    extra_weight: float
    # model
    backbone: str
    weights: str
    target: str
    input_size: int
    init: str | None
    freeze_blocks: int
    cache_features: str | None
    cache_views: str
    cache_rows: int | None
    feature_shift: int
    # optimisation
    optimizer: str
    lr: float
    lr_min: float
    schedule: str
    restart_period: int
    momentum: float
    weight_decay: float
    label_smoothing: float
    tag_loss: float
    batch_size: int
    epochs: int
    epoch_photos: int | None
    early_stop_eps: float
    early_stop_patience: int
    augment_strength: float
    target_precision: float
    # machine and run
    device: str
    threads: int
    no_bf16: bool
    resume: str | None
    checkpoint_minutes: float
    command: str  # the exact command line, recorded in the model file
    stored_args: str  # the command line's values as JSON, kept in each checkpoint for --resume

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> TrainConfig:
        derived = {"data", "output", "split_lists", "command", "stored_args"}
        values = vars(args)
        return cls(
            data=Path(args.data), output=Path(args.output),
            split_lists=tuple(args.split_lists) if args.split_lists else None,  # type: ignore[arg-type]
            command="ml " + shlex.join(getattr(args, "argv", sys.argv[1:])),
            stored_args=json.dumps(plain_args(args)),
            **{f.name: values[f.name] for f in fields(cls) if f.name not in derived},
        )


def plain_args(args: argparse.Namespace) -> dict[str, Any]:
    """The arguments as plain JSON types (for checkpoints loadable with weights_only=True)."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "module"}
