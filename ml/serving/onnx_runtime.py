"""ONNX Runtime forward passes for the CPU: the worker's serving backend, `ml evaluate --backend onnx` and
the feature cache's frozen prefix.

Measured on this project's 2-core CPU box, one thread, Lite0 at 224 px: 13 ms per crop with ONNX
Runtime vs 42 ms with torch (fp32; channels_last was slower still). Only the network's forward pass
moves to ONNX Runtime: decoding, TTA views, the scene->tag sum and the abstain decision stay in
`ml.serving.inference.Classifier`, so both backends share every other line. A model file's ONNX export is
cached under the model's version (its content hash), so it cannot drift from the torch model; a test checks
both give the same probabilities.
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
from ml.serving.model import file_version, load_model, read_model_file

logger = logging.getLogger(__name__)

INPUT, OUTPUT = "images", "logits"
OPSET = 17


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


def cpu_session(onnx_path: Path, threads: int) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])


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


def load_onnx_classifier(model_path: Path, cache_dir: Path, threads: int) -> Classifier:
    """A CPU `Classifier` for `model_path` whose forward pass runs in ONNX Runtime. `cache_dir` must be this
    user's alone (`private_dir`); its export is used only when its hash matches the recorded one."""
    version = file_version(model_path)
    onnx_path = private_dir(cache_dir) / f"{version}.onnx"
    if not cached_export_ok(onnx_path):
        if onnx_path.exists():
            logger.warning("%s does not match its recorded sha256: exporting it again", onnx_path)
        logger.info("exporting %s to %s", model_path, onnx_path)
        export_onnx(model_path, onnx_path)
        recorded_digest_path(onnx_path).write_text(onnx_digest(onnx_path) + "\n", encoding="ascii")
    spec, _ = read_model_file(model_path)
    forward = OnnxForward(cpu_session(onnx_path, threads))
    return Classifier(forward, spec, version, torch.device("cpu"), "onnx")
