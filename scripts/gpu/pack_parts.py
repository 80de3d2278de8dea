"""Pack a split's training and validation photos into tar parts small enough for the GPU machine's
transfer limit (one `run` call carries at most 64 MiB of ignored files; a warm machine keeps earlier parts).

    python scripts/gpu/pack_parts.py --data /work/cache/mp90/train --split /work/cache/v3/split.json \\
        --output gpu-data --part-mib 60

writes gpu-data/part-000.tar, part-001.tar, ... and gpu-data/split.json: the validation photos first, then
the training photos one class after another in turn, so that when the GPU time allows fewer transfers, the
parts that arrived are still a class-balanced subset (scripts/gpu/train.sh trains on what arrived). The
photos go unchanged (the MiniPlaces JPEGs are 4.4 KB on average; re-encoding at quality 75 saves 8 %, not
worth the loss). The held-out photos are never packed: the GPU machine only trains and calibrates.
"""

from __future__ import annotations

import argparse
import shutil
import tarfile
from pathlib import Path

from ml.training import data as ds

TAR_OVERHEAD = 1024  # a tar member's 512-byte header and its padding to 512 bytes, at most


def group_by_size(sizes: list[int], limit: int) -> list[list[int]]:
    """Consecutive indices grouped so that each group's sizes (plus tar overhead) stay within `limit`; an item
    larger than the limit gets a group of its own."""
    groups: list[list[int]] = []
    used = limit + 1
    for i, size in enumerate(sizes):
        if used + size + TAR_OVERHEAD > limit:
            groups.append([])
            used = 0
        groups[-1].append(i)
        used += size + TAR_OVERHEAD
    return groups


def pack(root: Path, split: Path, output: Path, part_bytes: int) -> list[Path]:
    """Write the parts; returns their paths."""
    # Validation first, then training photos class by class in turn: any first parts are a stratified subset.
    photos = [s.path for part in ("validation", "train")
              for s in ds.class_interleaved(ds.read_split(split, part), 0)]
    output.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(split, output / "split.json")
    parts = []
    for number, group in enumerate(group_by_size([(root / p).stat().st_size for p in photos], part_bytes)):
        parts.append(output / f"part-{number:03d}.tar")
        # ustar: no PAX header per photo (its float mtime would add 1 KiB each)
        with tarfile.open(parts[-1], "w", format=tarfile.USTAR_FORMAT) as archive:
            for i in group:
                archive.add(root / photos[i], arcname=photos[i])
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="photo folder in SUN397 layout")
    parser.add_argument("--split", required=True, help="split file; its train, validation photos go")
    parser.add_argument("--output", default="gpu-data", help="folder for the parts (default: gpu-data)")
    parser.add_argument("--part-mib", type=float, default=60, help="largest part, MiB (default: 60)")
    args = parser.parse_args()
    parts = pack(Path(args.data), Path(args.split), Path(args.output), int(args.part_mib * 2**20))
    total = sum(p.stat().st_size for p in parts)
    print(f"{len(parts)} parts, {total / 2**20:.1f} MiB in all, in {args.output}")


if __name__ == "__main__":
    main()
