"""`ml ensemble A.pt B.pt ... --output C.pt`: one model file whose prediction is the mean of the members'
scene probabilities. The members must share the class list, the target and the normalisation; the remap,
tag balance, abstain threshold and ranked-list rule (`list_mass`, `list_max_tags`) come from the first member
(`ml evaluate` then `ml record` re-evaluates)."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # ml.serving.model imports torch, which `ml --help` should not pay for
    from ml.serving.model import ModelSpec

logger = logging.getLogger(__name__)


def ensemble_spec(specs: list[ModelSpec], command: str, mixed_data: bool = False) -> ModelSpec:
    """The ensemble's ModelSpec from its members' specs; ValueError when they cannot be averaged. Members
    trained on different photo sets are refused unless `mixed_data`: each member's data fingerprint is kept,
    and the ensemble's is the members' joined with '+'."""
    from ml.serving.model import ModelSpec

    first = specs[0]
    must_match = ("classes", "target", "mean", "std") + (() if mixed_data else ("data_fingerprint",))
    for spec in specs[1:]:
        for name in must_match:
            if getattr(spec, name) != getattr(first, name):
                raise ValueError(f"members differ in {name}: {spec.backbone} against {first.backbone}")
    if any(spec.members for spec in specs):
        raise ValueError("a member is an ensemble already; list its members instead")
    return ModelSpec(
        backbone="+".join(spec.backbone for spec in specs), input_size=max(s.input_size for s in specs),
        mean=first.mean, std=first.std, target=first.target, classes=list(first.classes),
        remap=dict(first.remap), threshold=first.threshold, tag_balance=first.tag_balance,
        list_mass=first.list_mass, list_max_tags=first.list_max_tags,
        tta_strength=first.tta_strength, train_command=command,
        data_fingerprint="+".join(dict.fromkeys(s.data_fingerprint for s in specs)),
        members=[{"backbone": s.backbone, "input_size": s.input_size, "train_command": s.train_command,
                  "data_fingerprint": s.data_fingerprint} for s in specs],
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("models", nargs="+",
                        help="member model files (two or more); FILE@BACKBONE takes that member of an "
                        "ensemble file, e.g. old.pt@efficientnet-lite2")
    parser.add_argument("--output", required=True, help="the ensemble model file to write")
    parser.add_argument("--mixed-data", action="store_true",
                        help="allow members trained on different photo sets (e.g. a split grown with "
                        "`ml split --extend`); evaluate only on photos none of them trained on "
                        "(default: refuse)")
    parser.add_argument("--float16", action="store_true",
                        help="store the weights as float16: half the file, still served in float32 "
                        "(default: float32)")


def run(args: argparse.Namespace) -> int:
    import torch

    from ml.serving.model import EnsembleNet, build_from_spec, load_model, read_member, save_model

    if len(args.models) < 2:
        raise SystemExit("ml ensemble: give two or more model files")

    def load(name: str) -> tuple[torch.nn.Module, ModelSpec]:
        if "@" not in name:
            return load_model(name)
        path, backbone = name.rsplit("@", 1)
        try:
            spec, state = read_member(path, backbone)
        except ValueError as error:
            raise SystemExit(f"ml ensemble: {error}") from None
        model = build_from_spec(spec)
        model.load_state_dict(state)
        return model.eval(), spec

    loaded = [load(name) for name in args.models]
    try:
        command = "ml " + shlex.join(getattr(args, "argv", sys.argv[1:]))
        spec = ensemble_spec([spec for _, spec in loaded], command, mixed_data=args.mixed_data)
    except ValueError as error:
        raise SystemExit(f"ml ensemble: {error}") from None
    model = EnsembleNet([model for model, _ in loaded], [s.input_size for _, s in loaded])
    save_model(args.output, model, spec, dtype=torch.float16 if args.float16 else torch.float32)
    logger.info("wrote %s: %s", args.output, spec.backbone)
    return 0
