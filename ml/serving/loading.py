"""The one way a model file becomes a `Classifier`: the worker, `ml evaluate`, `ml calibrate`, `ml compare`,
`ml predict` and the benchmarks all load through `load_classifier`."""

from __future__ import annotations

from pathlib import Path

from ml.serving import DEFAULT_ONNX_CACHE_DIR
from ml.serving.inference import Classifier, choose_backend, resolve_device


def load_classifier(
    path: str | Path,
    device: str = "auto",
    backend: str = "auto",
    threads: int = 1,
    onnx_cache_dir: str | Path | None = None,
    *,
    precision: str = "auto",
) -> Classifier:
    """`path` on `device` ("auto": CUDA when present) with `backend` ("auto": ONNX Runtime on the CPU, where
    it is 3x faster and exact fp32; torch on CUDA). The ONNX export is cached under `onnx_cache_dir` by the
    file's content version. `precision` (ONNX only): auto serves the file's int8 graph (`ml quantize`) when it
    has one, fp32 or int8 force one. ValueError for an unknown device, ONNX off the CPU, or int8 without an
    int8 graph."""
    resolved = resolve_device(device)
    if choose_backend(backend, resolved.type) == "onnx":
        from ml.serving.onnx_runtime import load_onnx_classifier

        cache = Path(onnx_cache_dir) if onnx_cache_dir else DEFAULT_ONNX_CACHE_DIR
        return load_onnx_classifier(Path(path), cache, threads, precision)
    if precision == "int8":
        raise ValueError("int8 serving runs in ONNX Runtime on the CPU, not in torch")
    return Classifier.load(path, str(resolved))
