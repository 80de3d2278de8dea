"""What the worker imports: decoding photos, preprocessing, the network and its model file, inference with
TTA and the abstain rule, and the ONNX Runtime backend. Nothing here needs the training tools."""

import tempfile
from pathlib import Path

# Where ONNX exports of model files are cached when no folder is given (the worker's ONNX_CACHE_DIR default).
DEFAULT_ONNX_CACHE_DIR = Path(tempfile.gettempdir()) / "scenetag-onnx"
