"""scripts/gpu/pack_parts.py: the photos for the GPU machine fit its transfer limit and never include the
held-out part."""

from __future__ import annotations

import importlib.util
import tarfile
from pathlib import Path

from ml.training import data as ds
from tests.ml_support import make_tiny_data

SCRIPT = Path(__file__).parents[1] / "scripts" / "gpu" / "pack_parts.py"
spec = importlib.util.spec_from_file_location("pack_parts", SCRIPT)
assert spec and spec.loader
pack_parts = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pack_parts)


def test_group_by_size_keeps_each_group_within_the_limit() -> None:
    overhead = pack_parts.TAR_OVERHEAD
    groups = pack_parts.group_by_size([1000, 1000, 1000, 5000, 10], 2 * (1000 + overhead))
    assert groups == [[0, 1], [2], [3], [4]]  # 5000 is over the limit alone: a group of its own


def test_pack_writes_parts_under_the_limit_with_train_and_validation_photos_only(tmp_path: Path) -> None:
    root = make_tiny_data(tmp_path / "photos", per_class=6)
    samples = ds.scan(root)
    split = tmp_path / "split.json"
    ds.write_split(split, samples[:10], samples[10:14], "test", validation=samples[14:])
    limit = 4 * (max((root / s.path).stat().st_size for s in samples) + pack_parts.TAR_OVERHEAD)
    parts = pack_parts.pack(root, split, tmp_path / "out", limit)
    assert len(parts) > 1 and all(p.stat().st_size <= limit + 10240 for p in parts)  # + tar's end records
    packed = []
    for part in parts:
        with tarfile.open(part) as archive:
            packed += archive.getnames()
    assert sorted(packed) == sorted(s.path for s in [*samples[:10], *samples[14:]])
    assert (tmp_path / "out" / "split.json").read_text() == split.read_text()
