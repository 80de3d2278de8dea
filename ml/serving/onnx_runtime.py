"""ONNX Runtime forward passes for the CPU: the worker's serving backend, `ml evaluate --backend onnx` and
the feature cache's frozen prefix.

Measured on this project's 2-core CPU box, one thread, Lite0 at 224 px: 13 ms per crop with ONNX
Runtime vs 42 ms with torch (fp32; channels_last was slower still). Only the network's forward pass
moves to ONNX Runtime: decoding, TTA views, the scene->tag sum and the abstain decision stay in
`ml.serving.inference.Classifier`, so both backends share every other line. A model file's ONNX export is
cached under the model's version (its content hash), so it cannot drift from the torch model; a test checks
both give the same probabilities. A model file may also carry an int8 graph (`ml quantize`, static QDQ
quantization calibrated on validation photos); `precision` chooses it (ONNX Runtime's VNNI int8 kernels).
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from pathlib import Path

import onnxruntime
import torch
from torch import nn

from ml.serving import private_dir
from ml.serving.inference import Classifier
from ml.serving.model import file_version, load_model, read_int8_graph, read_model_file

logger = logging.getLogger(__name__)

INPUT, OUTPUT = "images", "logits"
OPSET = 17
PRECISIONS = ("auto", "fp32", "int8")  # auto: int8 when the model file carries an int8 graph, else fp32


def export_module(module: nn.Module, input_size: int, onnx_path: Path, output_name: str = OUTPUT) -> None:
    """Export `module` (images [N,3,S,S] -> one tensor; batch size dynamic) to ONNX, atomically."""
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    partial = onnx_path.with_name(f"{onnx_path.name}.{os.getpid()}.tmp")  # workers may export at once
    # eval(): the exporter restores the module's previous mode on exit, recursively
    module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's shape-inference chatter
        torch.onnx.export(
            module,
            (torch.zeros(1, 3, input_size, input_size),),
            str(partial),
            input_names=[INPUT],
            output_names=[output_name],
            dynamic_axes={INPUT: {0: "batch"}, output_name: {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
    partial.replace(onnx_path)


# ONNX Runtime's intra-op threads spin between runs by default, taking the cores from the worker's own decode
# and RQ threads and from a bot on the same machine. Measured on 2 cores (benchmarks/e2e_latency.py, int8,
# 2026-12-04): without spinning the worker alone served 62 against 48-59 photos/s (1 in flight) and the bot
# path 40 against 28-30 replies/s with 20 users.
NO_SPINNING = ("session.intra_op.allow_spinning", "0")


def cpu_session(graph: Path | bytes, threads: int) -> onnxruntime.InferenceSession:
    """A CPU session of an ONNX file or of a serialized graph."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry(*NO_SPINNING)
    source = graph if isinstance(graph, bytes) else str(graph)
    return onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])


class OnnxForward(nn.Module):
    """A drop-in for the network inside `Classifier`: float images [N,3,H,W] -> logits [N,classes]."""

    def __init__(self, session: onnxruntime.InferenceSession) -> None:
        super().__init__()
        self.session = session

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        (logits,) = self.session.run([OUTPUT], {INPUT: images.detach().cpu().float().numpy()})
        return torch.from_numpy(logits)


def export_onnx(model_path: Path, onnx_path: Path) -> None:
    """Export the model file's network to ONNX."""
    model, spec = load_model(model_path)
    export_module(model, spec.input_size, onnx_path)


def onnx_digest(onnx_path: Path) -> str:
    digest = hashlib.sha256()
    with onnx_path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def recorded_digest_path(onnx_path: Path) -> Path:
    return onnx_path.with_name(onnx_path.name + ".sha256")


def cached_export_ok(onnx_path: Path) -> bool:
    """Whether the cached export is the one this cache wrote: its sha256 matches the one recorded beside it
    at export (a truncated, swapped or planted file is exported again)."""
    recorded = recorded_digest_path(onnx_path)
    if not onnx_path.is_file() or not recorded.is_file():
        return False
    return recorded.read_text(encoding="ascii").strip() == onnx_digest(onnx_path)


def fp32_graph(model_path: Path, cache_dir: Path) -> Path:
    """The model file's fp32 ONNX export, cached under its version in `cache_dir`, which must be this user's
    alone (`private_dir`); the cached export is used only when its hash matches the recorded one."""
    onnx_path = private_dir(cache_dir) / f"{file_version(model_path)}.onnx"
    if not cached_export_ok(onnx_path):
        if onnx_path.exists():
            logger.warning("%s does not match its recorded sha256: exporting it again", onnx_path)
        logger.info("exporting %s to %s", model_path, onnx_path)
        export_onnx(model_path, onnx_path)
        recorded_digest_path(onnx_path).write_text(onnx_digest(onnx_path) + "\n", encoding="ascii")
    return onnx_path


def load_onnx_classifier(
    model_path: Path, cache_dir: Path, threads: int, precision: str = "auto"
) -> Classifier:
    """A CPU `Classifier` for `model_path` whose forward pass runs in ONNX Runtime, on the file's int8
    graph (`precision` int8, or auto when it has one) or its fp32 export. ValueError for int8 when the
    file has no int8 graph, or an unknown precision."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    int8 = read_int8_graph(model_path) if precision != "fp32" else None
    if precision == "int8" and int8 is None:
        raise ValueError(f"{model_path} has no int8 graph: run `ml quantize` on it, or serve it in fp32")
    spec, _ = read_model_file(model_path)
    graph = int8 if int8 is not None else fp32_graph(model_path, cache_dir)
    forward = OnnxForward(cpu_session(graph, threads))
    return Classifier(forward, spec, file_version(model_path), torch.device("cpu"),
                      "onnx-int8" if int8 is not None else "onnx")
