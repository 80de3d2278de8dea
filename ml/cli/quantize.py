"""`ml quantize`: static post-training int8 quantization of a model file's networks for the CPU worker.

The model file's fp32 ONNX export (the graph the worker serves today) goes through ONNX Runtime's
`quant_pre_process` (shape inference, constant folding) and `quantize_static`: QDQ format, weights int8 per
output channel, activations uint8 per tensor (u8 x s8 is what AVX-512 VNNI multiplies natively) with ranges
from calibration photos of the split's validation part, never its held-out part. EfficientNet-Lite suits
this: no squeeze-excite, ReLU6. Each member of an ensemble is quantized or kept fp32 (`--fp32-members`);
the softmax average stays fp32.

The int8 graph is stored inside a copy of the model file (one file is what the registry and MODEL_PATH
carry; a separate graph could be served beside the wrong weights), and the copy's spec records it under
`quantized`: the graph's sha256 (checked when a worker loads it), the members in int8, and the calibration
photos' split, part, count and fingerprint (ml.training.data.fingerprint), and the command.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ml.training import data as ds

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="the fp32 model file")
    parser.add_argument("--data", required=True, help="photo folder in SUN397 layout")
    parser.add_argument("--split", required=True, help="split file whose validation part calibrates")
    parser.add_argument("--per-class", type=int, default=2,
                        help="calibration photos per class, a seeded subset of the validation part "
                        "(default: 2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of that subset (default: 0)")
    parser.add_argument("--fp32-members", default="",
                        help="comma-separated member indices (0, 1, ... as `ml models` lists them) kept in "
                        "fp32, e.g. a member int8 costs too much accuracy (default: none)")
    parser.add_argument("--output", required=True,
                        help="the model file to write: the input plus its int8 graph")
    parser.add_argument("--onnx-cache", default="runs/onnx",
                        help="folder of the fp32 ONNX exports, reused by version (default: runs/onnx)")


def member_prefixes(members: int, fp32: set[int]) -> list[str] | None:
    """Node-name prefixes of the members to quantize in the exported graph (`EnsembleNet.members.<i>`);
    None: quantize every node (a single network)."""
    if members == 0:
        return None
    return [f"/members.{i}/" for i in range(members) if i not in fp32]


def parse_members(text: str, members: int) -> set[int]:
    """`--fp32-members` as indices; ValueError for one the model does not have."""
    chosen = {int(part) for part in text.split(",") if part.strip()} if text.strip() else set()
    if bad := sorted(i for i in chosen if not 0 <= i < max(members, 1)):
        raise ValueError(f"--fp32-members {bad}: the model has members 0..{max(members, 1) - 1}")
    return chosen


class PhotoReader:
    """ONNX Runtime's CalibrationDataReader: the plain view of each calibration photo, in batches of 8."""

    def __init__(self, root: Path, samples: list[ds.Sample], spec: Any) -> None:
        from ml.serving.augment import tta_view

        self._view = tta_view(0, spec.input_size, spec.mean, spec.std, spec.tta_strength)
        self._root, self._samples = root, samples
        self._batches = self._iterate()

    def _iterate(self) -> Iterator[dict[str, Any]]:
        import torch

        from ml.serving.images import load_image
        from ml.serving.onnx_runtime import INPUT

        for start in range(0, len(self._samples), 8):
            chunk = self._samples[start:start + 8]
            batch = torch.stack([self._view(load_image(self._root / s.path)) for s in chunk])
            logger.info("calibration %d / %d photos", start + len(chunk), len(self._samples))
            yield {INPUT: batch.numpy()}

    def get_next(self) -> dict[str, Any] | None:
        return next(self._batches, None)


def quantize_graph(fp32: Path, reader: PhotoReader, prefixes: list[str] | None) -> bytes:
    """The int8 QDQ graph of the fp32 ONNX file `fp32`, calibrated on `reader`'s photos."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as folder:
        prepared, quantized = Path(folder) / "prepared.onnx", Path(folder) / "int8.onnx"
        quant_pre_process(str(fp32), str(prepared))
        nodes = None
        if prefixes is not None:
            graph = onnx.load(str(prepared)).graph
            nodes = [n.name for n in graph.node if n.name.startswith(tuple(prefixes))]
        quantize_static(str(prepared), str(quantized), reader, quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_quantize=nodes, calibrate_method=CalibrationMethod.MinMax)
        return quantized.read_bytes()


def run(args: argparse.Namespace) -> int:
    from ml.serving.model import ModelSpec, graph_sha256, read_model_file, save_with_spec
    from ml.serving.onnx_runtime import fp32_graph

    model = Path(args.model)
    if not model.is_file():
        raise SystemExit(f"ml quantize: no model file {model}")
    if args.per_class < 1:
        raise SystemExit(f"ml quantize: --per-class must be at least 1, got {args.per_class}")
    spec, state = read_model_file(model)
    try:
        fp32_members = parse_members(args.fp32_members, len(spec.members))
        validation = ds.read_split(Path(args.split), "validation")
        samples = ds.stratified_subset(validation, args.per_class, args.seed)
    except (OSError, ValueError) as error:
        raise SystemExit(f"ml quantize: {error}") from None
    if not spec.members and fp32_members:
        raise SystemExit("ml quantize: a single network kept in fp32 needs no int8 graph")
    logger.info("calibrating on %d validation photos of %s", len(samples), args.split)
    reader = PhotoReader(Path(args.data), samples, spec)
    graph = quantize_graph(fp32_graph(model, Path(args.onnx_cache)), reader,
                           member_prefixes(len(spec.members), fp32_members))
    names = [m["backbone"] for m in spec.members] or [spec.backbone]
    quantized = {
        "sha256": graph_sha256(graph), "format": "onnx qdq u8s8 per-channel", "bytes": len(graph),
        "int8_members": [n for i, n in enumerate(names) if i not in fp32_members],
        "fp32_members": [n for i, n in enumerate(names) if i in fp32_members],
        "calibration": {"split": str(args.split), "part": "validation", "per_class": args.per_class,
                        "seed": args.seed, "photos": len(samples), "fingerprint": ds.fingerprint(samples),
                        "method": "minmax"},
        "command": "ml " + shlex.join(getattr(args, "argv", sys.argv[1:])),
    }
    save_with_spec(args.output, ModelSpec.from_dict(spec.to_dict() | {"quantized": quantized}), state,
                   int8_graph=graph)
    logger.info("wrote %s: int8 graph %s (%.1f MB), members in int8: %s", args.output,
                quantized["sha256"][:12], len(graph) / 1e6, ", ".join(quantized["int8_members"]) or "none")
    return 0
