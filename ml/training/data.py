"""Photos in SUN397's folder layout, their classes, and the train / held-out split.

`DIR/b/bakery/shop/0001.jpg` is class `/b/bakery/shop`. The split is either SUN397's official
`Training_NN.txt` / `Testing_NN.txt` lists or a stratified random split with a fixed seed; either way it is
written next to the run (`split.json`) so evaluation uses exactly the same photos.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ml.serving.images import load_image
from ml.tags import ALL_LABELS

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})


@dataclass(frozen=True)
class Sample:
    path: str  # relative to the data root, '/'-separated, e.g. "b/bakery/shop/0001.jpg"
    scene: str  # SUN397 class, e.g. "/b/bakery/shop"


def scene_of(relative_path: str) -> str:
    """`b/bakery/shop/0001.jpg` -> `/b/bakery/shop`."""
    return "/" + relative_path.rsplit("/", 1)[0]


def scan(root: str | Path) -> list[Sample]:
    """Every image under root, sorted by path (the order is part of the cache and split contracts)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} does not exist")
    paths = sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    )
    samples = [Sample(p, scene_of(p)) for p in paths if "/" in p]
    if not samples:
        raise ValueError(f"no images in SUN397 layout (DIR/a/abbey/x.jpg) under {root}")
    return samples


def scan_tagged(root: str | Path) -> tuple[list[Sample], list[str]]:
    """Photos labelled with a hashtag instead of a scene, in `DIR/<tag>/<name>.jpg` (what `ml feedback export`
    writes; other files, such as its manifest, are ignored): the photos sorted by path and their tags."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"photo folder {root} does not exist")
    paths = sorted(p.relative_to(root).as_posix() for p in root.glob("*/*")
                   if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    tags = [path.split("/")[0] for path in paths]
    unknown = sorted(set(tags) - set(ALL_LABELS))
    if unknown:
        raise ValueError(f"{root}: folders {unknown} are not tags ({', '.join(ALL_LABELS)})")
    if not paths:
        raise ValueError(f"no photos in DIR/<tag>/<name>.jpg layout under {root}")
    return [Sample(path, scene_of(path)) for path in paths], tags


def fingerprint(samples: Sequence[Sample]) -> str:
    """sha256 (16 hex) of the sorted relative paths: identifies the data a model was trained on."""
    digest = hashlib.sha256()
    for sample in samples:
        digest.update(sample.path.encode() + b"\n")
    return digest.hexdigest()[:16]


def stratified_split(
    samples: Sequence[Sample], holdout: float, seed: int
) -> tuple[list[Sample], list[Sample]]:
    """Per class, a seeded shuffle; the first round(holdout * n) photos are held out."""
    by_scene: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_scene[sample.scene].append(sample)
    train: list[Sample] = []
    held: list[Sample] = []
    for scene in sorted(by_scene):
        group = sorted(by_scene[scene], key=lambda s: s.path)
        random.Random(f"{seed}:{scene}").shuffle(group)
        cut = round(holdout * len(group))
        held += group[:cut]
        train += group[cut:]
    return sorted(train, key=lambda s: s.path), sorted(held, key=lambda s: s.path)


def official_split(
    samples: Sequence[Sample], train_list: Path, test_list: Path
) -> tuple[list[Sample], list[Sample]]:
    """SUN397's lists hold lines like `/a/abbey/sun_aaa.jpg`; photos in neither list are dropped."""

    def read(path: Path) -> set[str]:
        return {line.strip().lstrip("/") for line in path.read_text().splitlines() if line.strip()}

    train_paths, test_paths = read(train_list), read(test_list)
    return [s for s in samples if s.path in train_paths], [s for s in samples if s.path in test_paths]


SPLIT_PARTS = ("train", "validation", "heldout")


def write_split(
    path: Path, train: Sequence[Sample], held: Sequence[Sample], how: str,
    validation: Sequence[Sample] | None = None,
) -> None:
    """`validation`, when given, is its own part; without it `ml train` takes its validation photos from the
    start of the class-interleaved training order (the layout of splits written before the part existed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data: dict[str, object] = {"how": how, "train": [s.path for s in train]}
    if validation is not None:
        data["validation"] = [s.path for s in validation]
    data["heldout"] = [s.path for s in held]
    path.write_text(json.dumps(data, indent=0))


def has_part(path: Path, part: str) -> bool:
    return part in json.loads(Path(path).read_text())


def read_split(path: Path, part: str) -> list[Sample]:
    """`part` is "train", "validation" or "heldout"."""
    data = json.loads(Path(path).read_text())
    if part not in SPLIT_PARTS:
        raise ValueError(f"unknown split part {part!r}; choose one of {', '.join(SPLIT_PARTS)}")
    if part not in data:
        raise ValueError(f"{path} has no {part!r} part (it has {', '.join(k for k in data if k != 'how')})")
    return [Sample(p, scene_of(p)) for p in data[part]]


def three_way_split(
    samples: Sequence[Sample], holdout: float, val_per_class: int, seed: int
) -> dict[str, list[Sample]]:
    """The stratified held-out share, then the first `val_per_class` photos of each class in the seeded
    class-interleaved order of the rest (what `ml train` has always validated on), then training."""
    train, held = stratified_split(samples, holdout, seed)
    ordered = class_interleaved(train, seed)
    n_val = val_per_class * len({s.scene for s in train})
    validation = sorted(ordered[:n_val], key=lambda s: s.path)
    return {"train": sorted(ordered[n_val:], key=lambda s: s.path), "validation": validation,
            "heldout": sorted(held, key=lambda s: s.path)}


def extend_split(
    samples: Sequence[Sample], base: dict[str, list[Sample]], holdout: float, val_per_class: int, seed: int
) -> dict[str, list[Sample]]:
    """Photos of `base` keep their part (what earlier models were trained, tuned and tested on stays so);
    the photos new to `samples` are split by `three_way_split` and added to each part."""
    known = {s.path for part in base.values() for s in part}
    missing = known - {s.path for s in samples}
    if missing:
        raise ValueError(f"{len(missing)} photos of the base split are not in the data, e.g. {min(missing)}")
    new = three_way_split([s for s in samples if s.path not in known], holdout, val_per_class, seed)
    return {part: sorted([*base.get(part, []), *new[part]], key=lambda s: s.path) for part in SPLIT_PARTS}


def narrow_heldout(parts: dict[str, list[Sample]], keep: set[str]) -> dict[str, list[Sample]]:
    """The split with only the held-out photos whose path is in `keep` still held out; the others train."""
    held = [s for s in parts["heldout"] if s.path in keep]
    moved = [s for s in parts["heldout"] if s.path not in keep]
    return {**parts, "heldout": held, "train": sorted([*parts["train"], *moved], key=lambda s: s.path)}


def stratified_subset(samples: Sequence[Sample], per_class: int, seed: int) -> list[Sample]:
    """At most `per_class` photos of each class, chosen with a seed (for quick checks and TTA subsets)."""
    by_scene: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_scene[sample.scene].append(sample)
    chosen: list[Sample] = []
    for scene in sorted(by_scene):
        group = sorted(by_scene[scene], key=lambda s: s.path)
        random.Random(f"{seed}:{scene}").shuffle(group)
        chosen += group[:per_class]
    return sorted(chosen, key=lambda s: s.path)


def class_interleaved(samples: Sequence[Sample], seed: int) -> list[Sample]:
    """Round-robin over classes (each shuffled with the seed): any prefix is class-balanced, so the first
    k * classes photos are k per class (the validation part) and a partly built feature cache is usable."""
    by_scene: dict[str, list[Sample]] = defaultdict(list)
    for sample in sorted(samples, key=lambda s: s.path):
        by_scene[sample.scene].append(sample)
    groups = []
    for scene in sorted(by_scene):
        group = by_scene[scene]
        random.Random(f"order:{seed}:{scene}").shuffle(group)
        groups.append(group)
    longest = max((len(g) for g in groups), default=0)
    return [group[i] for i in range(longest) for group in groups if i < len(group)]


class PhotoDataset:
    """(transformed image, class index) pairs for a DataLoader (a map-style dataset needs only __len__ and
    __getitem__; not subclassing torch's Dataset keeps `ml --help` from importing torch)."""

    def __init__(self, root: str | Path, samples: Sequence[Sample], labels: Sequence[int], transform):
        self.root = Path(root)
        self.samples = list(samples)
        self.labels = list(labels)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        image = load_image(self.root / self.samples[index].path)
        return self.transform(image), self.labels[index]
