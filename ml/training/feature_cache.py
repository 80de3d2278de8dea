"""Cache the frozen prefix of a backbone: run it once per photo and view and keep the activations as float16
`.npy` memmaps, so training the remaining stages costs a fraction per epoch.

Views (`views`): `plain` (the evaluation view), `flip` (its mirror) and `aug1`, `aug2`, ... (the training
augmentations at strength k, `ml.serving.augment.train_transform`, seeded per photo and view so a resumed or
rebuilt cache holds the same pixels). Training draws one view per batch, so several augmented views give
the trainable stages photo-level augmentation without re-running the frozen part every epoch.

On CPU the prefix runs in ONNX Runtime (exported into the cache folder): measured here with 2 threads,
Lite0's stem + 11 blocks at 224 px take ~4 ms per photo, 3-4x faster than torch's bf16 path; on CUDA it
runs in torch with bf16 autocast.

Layout of a cache folder: `meta.json` (what produced it, how many rows are done) and one
`<view>.npy` of shape [N, C, H, W] per view, rows in the order of the scanned samples. Building resumes
where it stopped; a cache made by other settings or other data is refused rather than reused.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from ml.serving.augment import train_transform
from ml.serving.images import load_image
from ml.serving.model import SceneNet
from ml.serving.preprocess import eval_transform
from ml.training.data import Sample, fingerprint

logger = logging.getLogger(__name__)
_VIEW = re.compile(r"plain|flip|aug[1-9][0-9]?")


def cache_key(
    backbone: str, input_size: int, stop: int, samples: Sequence[Sample], views: Sequence[str] = ("plain",),
    *, augment_strength: float = 1.0, prefix_weights: str | None = None,
) -> dict[str, Any]:
    """What the cached maps depend on; `prefix_weights` names the frozen prefix's weights when they are not
    the backbone's pretrained ones (`ml train --init`)."""
    unknown = [view for view in views if not _VIEW.fullmatch(view)]
    if unknown:
        raise ValueError(f"unknown cache views {unknown}; choose from plain, flip, aug1 .. aug99")
    if "plain" not in views:
        raise ValueError("the cache views must include plain (validation uses it)")
    key = {"backbone": backbone, "input_size": input_size, "stop": stop, "data": fingerprint(samples),
           "count": len(samples), "views": list(views)}
    if any(view.startswith("aug") for view in views):
        key["augment_strength"] = augment_strength
    if prefix_weights:
        key["prefix_weights"] = prefix_weights
    return key


def _read_meta(folder: Path) -> dict[str, Any] | None:
    path = folder / "meta.json"
    return json.loads(path.read_text()) if path.exists() else None


def _write_meta(folder: Path, meta: dict[str, Any]) -> None:
    tmp = folder / "meta.json.tmp"
    tmp.write_text(json.dumps(meta, indent=1))
    tmp.replace(folder / "meta.json")


class _ViewsDataset:
    """Row i -> the photo's views stacked [V, 3, H, W]; each photo is decoded once for all its views."""

    def __init__(self, root: Path, samples: Sequence[Sample], first_row: int, key: dict[str, Any], *,
                 mean: Sequence[float], std: Sequence[float]) -> None:
        self.root, self.samples, self.first_row, self.views = root, list(samples), first_row, key["views"]
        self.plain = eval_transform(key["input_size"], mean, std)
        self.augment = train_transform(key["input_size"], mean, std, key.get("augment_strength", 1.0))

    def __len__(self) -> int:
        return len(self.samples)

    def _view(self, view: str, image: Any, row: int) -> torch.Tensor:
        if view == "plain":
            return self.plain(image)
        if view == "flip":
            return self.plain(image).flip(-1)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(view[3:]) * 1_000_003 + row)
            return self.augment(image)

    def __getitem__(self, index: int) -> torch.Tensor:
        image = load_image(self.root / self.samples[index].path)
        return torch.stack([self._view(view, image, self.first_row + index) for view in self.views])


class _Prefix(nn.Module):
    def __init__(self, model: SceneNet, stop: int) -> None:
        super().__init__()
        self.model, self.stop = model, stop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.prefix(x, self.stop)


def _prefix_runner(
    model: SceneNet, stop: int, input_size: int, folder: Path
) -> Callable[[torch.Tensor], np.ndarray]:
    """images [N,3,H,W] -> prefix activations as float32 numpy: ONNX Runtime on CPU, torch (bf16) on CUDA."""
    device = next(model.parameters()).device
    if device.type != "cpu":
        def run_torch(images: torch.Tensor) -> np.ndarray:
            with torch.autocast(device.type, dtype=torch.bfloat16):
                return model.prefix(images.to(device), stop).float().cpu().numpy()

        return run_torch
    from ml.serving.onnx_runtime import INPUT, cpu_session, export_module

    onnx_path = folder / f"prefix-{stop}.onnx"
    export_module(_Prefix(model, stop), input_size, onnx_path, output_name="maps")
    session = cpu_session(onnx_path, torch.get_num_threads())

    def run_onnx(images: torch.Tensor) -> np.ndarray:
        return session.run(["maps"], {INPUT: images.numpy()})[0]

    return run_onnx


@torch.inference_mode()
def build_cache(
    folder: Path,
    root: Path,
    samples: Sequence[Sample],
    model: SceneNet,
    key: dict[str, Any],
    *,
    mean: Sequence[float],
    std: Sequence[float],
    batch_size: int = 8,  # small batches keep activations in cache: 3x faster than 64 on CPU
    workers: int = 1,
) -> None:
    """Fill (or finish filling) the cache."""
    folder.mkdir(parents=True, exist_ok=True)
    meta = _read_meta(folder)
    if meta is not None and meta["key"] != key:
        raise ValueError(f"{folder} holds a feature cache of other settings or data: {meta['key']}; "
                         "use another --cache-features folder")
    model.eval()
    run = _prefix_runner(model, key["stop"], key["input_size"], folder)
    probe = run(torch.zeros(1, 3, key["input_size"], key["input_size"]))
    shape = (len(samples), *probe.shape[1:])
    if meta is None:
        meta = {"key": key, "shape": list(shape), "done": 0}
        for view in key["views"]:
            np.lib.format.open_memmap(folder / f"{view}.npy", mode="w+", dtype=np.float16, shape=shape)
        _write_meta(folder, meta)
    done = meta["done"]
    if done >= len(samples):
        return
    arrays = [np.load(folder / f"{view}.npy", mmap_mode="r+") for view in key["views"]]
    dataset = _ViewsDataset(root, samples[done:], done, key, mean=mean, std=std)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers)
    for stacked in tqdm(loader, desc="caching features", initial=done // batch_size,
                        total=(len(samples) + batch_size - 1) // batch_size):
        n = len(stacked)
        maps = run(stacked.flatten(0, 1)).reshape(n, len(arrays), *shape[1:])
        for v, array in enumerate(arrays):
            array[done:done + n] = maps[:, v].astype(np.float16)
        done += n
        if done % (batch_size * 20) < batch_size or done == len(samples):
            for array in arrays:
                array.flush()
            meta["done"] = done
            _write_meta(folder, meta)
    logger.info("feature cache %s complete: %d photos, shape %s", folder, done, shape)


def cached_rows(folder: Path, key: dict[str, Any]) -> int:
    """How many leading rows of a cache made with `key` are filled (0 when there is none)."""
    meta = _read_meta(folder)
    return int(meta["done"]) if meta is not None and meta["key"] == key else 0


def open_cache(folder: Path, key: dict[str, Any], rows: int) -> dict[str, np.ndarray]:
    """The first `rows` rows of each view as read-only memmaps, or an error saying why they cannot be used."""
    if cached_rows(folder, key) < rows:
        raise ValueError(f"{folder}: the feature cache for {key} has fewer than {rows} rows built")
    return {view: np.load(folder / f"{view}.npy", mmap_mode="r")[:rows] for view in key["views"]}
