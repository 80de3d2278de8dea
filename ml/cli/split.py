"""`ml split`: write a split file (train / validation / held-out photos) for `ml train --split` and
`ml evaluate --split`.

A fresh split is stratified by class with a seed. `--extend OLD.json` grows an earlier split to a larger
photo folder: every photo OLD lists keeps its part, so a model trained on OLD's training photos is still
never evaluated on them, and only the new photos are split. `--heldout-only OLDER.json` then keeps only
OLDER's held-out photos held out and moves the rest of the held-out part into training (a smaller held-out
part that still measures to about +-0.01, and more photos to learn from)."""

from __future__ import annotations

import argparse
import logging
from collections import Counter
from pathlib import Path

from ml.training import data as ds

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="photo folder in SUN397 layout")
    parser.add_argument("--output", required=True, help="split file to write, e.g. runs/v2/split.json")
    parser.add_argument("--extend",
                        help="an earlier split whose photos keep their parts (default: none, a fresh split)")
    parser.add_argument("--heldout-only",
                        help="an earlier split: only its held-out photos stay held out, the rest of "
                             "this split's held-out part joins training (default: the whole part stays)")
    parser.add_argument("--holdout", type=float, default=0.2,
                        help="held-out share per class of the photos being split (default: 0.2)")
    parser.add_argument("--val-per-class", type=int, default=10,
                        help="validation photos per class among the photos being split (default: 10)")
    parser.add_argument("--seed", type=int, default=0, help="(default: 0)")


def run(args: argparse.Namespace) -> int:
    samples = ds.scan(args.data)
    how = f"stratified, holdout {args.holdout}, validation {args.val_per_class} per class, seed {args.seed}"
    if args.extend:
        base = {part: ds.read_split(Path(args.extend), part) for part in ds.SPLIT_PARTS
                if ds.has_part(Path(args.extend), part)}
        if "validation" not in base:
            raise SystemExit(f"ml split: {args.extend} has no validation part; recreate it with ml split")
        try:
            parts = ds.extend_split(samples, base, args.holdout, args.val_per_class, args.seed)
        except ValueError as error:
            raise SystemExit(f"ml split: {error}") from None
        how = f"{args.extend} extended with new photos: {how}"
    else:
        parts = ds.three_way_split(samples, args.holdout, args.val_per_class, args.seed)
    if args.heldout_only:
        keep = {s.path for s in ds.read_split(Path(args.heldout_only), "heldout")}
        if not keep <= {s.path for s in parts["heldout"]}:
            raise SystemExit(f"ml split: {args.heldout_only}'s held-out photos are not all held out here")
        parts = ds.narrow_heldout(parts, keep)
        how = f"{how}; held out: only {args.heldout_only}'s held-out photos, the rest joined training"
    ds.write_split(Path(args.output), parts["train"], parts["heldout"], how, validation=parts["validation"])
    for part in ds.SPLIT_PARTS:
        per_class = Counter(s.scene for s in parts[part])
        logger.info("%s: %d photos, %d-%d per class", part, len(parts[part]), min(per_class.values()),
                    max(per_class.values()))
    print(f"wrote {args.output}: " + ", ".join(f"{len(parts[p])} {p}" for p in ds.SPLIT_PARTS)
          + f"; data fingerprint {ds.fingerprint(samples)}")
    return 0
