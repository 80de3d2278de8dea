"""What the worker imports: decoding photos, preprocessing, the network and its model file, inference with
TTA and the abstain rule, and the ONNX Runtime backend. Nothing here needs the training tools."""

import os
import stat
from pathlib import Path


def user_cache_dir(name: str) -> Path:
    """`$XDG_CACHE_HOME/scenetag/<name>` (default `~/.cache/scenetag/<name>`): the service user's own, not the
    shared temp folder, where anyone could plant a file before the service creates the folder."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "scenetag" / name


# Where ONNX exports of model files are cached when no folder is given (the worker's ONNX_CACHE_DIR default),
# and where the worker keeps model files fetched from the registry (MODEL_CACHE_DIR).
DEFAULT_ONNX_CACHE_DIR = user_cache_dir("onnx")
DEFAULT_MODEL_CACHE_DIR = user_cache_dir("models")


class UnsafeCacheDir(ValueError):
    """A cache folder others could write: a file planted there would be loaded as a model."""


def private_dir(path: Path) -> Path:
    """`path`, created with mode 0700 when missing; UnsafeCacheDir when it belongs to another user or is
    writable by group or others (the files in it are loaded as models)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise UnsafeCacheDir(f"{path} belongs to another user (uid {info.st_uid}); use a folder of your own")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        mode = stat.S_IMODE(info.st_mode)
        raise UnsafeCacheDir(f"{path} is writable by group or others (mode {mode:o}): chmod 700 it")
    return path
