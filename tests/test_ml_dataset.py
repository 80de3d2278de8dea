from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from ml.training import data as ds


def make_layout(root: Path, counts: dict[str, int]) -> Path:
    for scene, count in counts.items():
        folder = root / scene.lstrip("/")
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            Image.new("RGB", (8, 8), (i, 0, 0)).save(folder / f"{i:04d}.jpg")
    (root / "README.md").write_text("not an image")
    return root


def test_scan_reads_sun397_layout(tmp_path: Path) -> None:
    root = make_layout(tmp_path, {"/b/bakery/shop": 2, "/a/abbey": 1})
    samples = ds.scan(root)
    paths = [s.path for s in samples]
    assert paths == ["a/abbey/0000.jpg", "b/bakery/shop/0000.jpg", "b/bakery/shop/0001.jpg"]
    assert samples[1].scene == "/b/bakery/shop"
    with pytest.raises(FileNotFoundError):
        ds.scan(tmp_path / "missing")


def test_stratified_split_is_seeded_disjoint_and_per_class(tmp_path: Path) -> None:
    samples = ds.scan(make_layout(tmp_path, {"/a/abbey": 10, "/c/coffee_shop": 20}))
    train, held = ds.stratified_split(samples, 0.2, seed=0)
    assert Counter(s.scene for s in held) == {"/a/abbey": 2, "/c/coffee_shop": 4}
    assert not {s.path for s in train} & {s.path for s in held}
    assert len(train) + len(held) == len(samples)
    assert ds.stratified_split(samples, 0.2, seed=0) == (train, held)
    assert ds.stratified_split(samples, 0.2, seed=1)[1] != held


def test_split_file_round_trip_and_official_lists(tmp_path: Path) -> None:
    samples = ds.scan(make_layout(tmp_path / "data", {"/a/abbey": 3}))
    train, held = ds.stratified_split(samples, 0.34, seed=0)
    ds.write_split(tmp_path / "run" / "split.json", train, held, "test")
    assert ds.read_split(tmp_path / "run" / "split.json", "heldout") == held
    (tmp_path / "Training_01.txt").write_text("/a/abbey/0000.jpg\n/a/abbey/0001.jpg\n")
    (tmp_path / "Testing_01.txt").write_text("/a/abbey/0002.jpg\n")
    train, test = ds.official_split(samples, tmp_path / "Training_01.txt", tmp_path / "Testing_01.txt")
    assert [s.path for s in test] == ["a/abbey/0002.jpg"] and len(train) == 2


def test_class_interleaved_prefixes_are_balanced(tmp_path: Path) -> None:
    samples = ds.scan(make_layout(tmp_path, {"/a/abbey": 5, "/b/beach": 5, "/c/coffee_shop": 3}))
    order = ds.class_interleaved(samples, seed=0)
    assert sorted(order, key=lambda s: s.path) == samples
    assert Counter(s.scene for s in order[:6]) == {"/a/abbey": 2, "/b/beach": 2, "/c/coffee_shop": 2}
    assert ds.class_interleaved(samples, seed=0) == order


def test_stratified_subset_and_fingerprint(tmp_path: Path) -> None:
    samples = ds.scan(make_layout(tmp_path, {"/a/abbey": 5, "/b/beach": 2}))
    subset = ds.stratified_subset(samples, 3, seed=0)
    assert Counter(s.scene for s in subset) == {"/a/abbey": 3, "/b/beach": 2}
    assert ds.fingerprint(samples) != ds.fingerprint(subset)
    assert len(ds.fingerprint(samples)) == 16


def test_three_way_split_validates_on_the_interleaved_start_of_the_training_part(tmp_path: Path) -> None:
    samples = ds.scan(make_layout(tmp_path, {"/a/abbey": 10, "/b/beach": 10}))
    parts = ds.three_way_split(samples, 0.2, val_per_class=2, seed=0)
    train, held = ds.stratified_split(samples, 0.2, seed=0)
    assert parts["heldout"] == held  # the held-out photos `ml train --holdout 0.2 --seed 0` keeps
    assert parts["validation"] == sorted(ds.class_interleaved(train, 0)[:4], key=lambda s: s.path)
    assert Counter(s.scene for s in parts["validation"]) == {"/a/abbey": 2, "/b/beach": 2}
    assert sorted(parts["train"] + parts["validation"], key=lambda s: s.path) == train


def test_extend_split_keeps_every_known_photo_in_its_part(tmp_path: Path) -> None:
    make_layout(tmp_path / "small", {"/a/abbey": 10, "/b/beach": 10})
    base = ds.three_way_split(ds.scan(tmp_path / "small"), 0.2, val_per_class=2, seed=0)
    make_layout(tmp_path / "big", {"/a/abbey": 20, "/b/beach": 20})  # the same first 10 photos, and 10 more
    grown = ds.extend_split(ds.scan(tmp_path / "big"), base, 0.2, val_per_class=1, seed=0)
    for part in ds.SPLIT_PARTS:
        assert {s.path for s in base[part]} <= {s.path for s in grown[part]}
    assert [len(grown[p]) for p in ds.SPLIT_PARTS] == [len(base["train"]) + 14, 4 + 2, 4 + 4]
    assert sum(len(grown[p]) for p in ds.SPLIT_PARTS) == 40
    with pytest.raises(ValueError, match="not in the data"):
        ds.extend_split(ds.scan(tmp_path / "small"), grown, 0.2, val_per_class=1, seed=0)


def test_split_file_with_a_validation_part(tmp_path: Path) -> None:
    samples = ds.scan(make_layout(tmp_path / "data", {"/a/abbey": 10}))
    parts = ds.three_way_split(samples, 0.2, val_per_class=2, seed=0)
    path = tmp_path / "split.json"
    ds.write_split(path, parts["train"], parts["heldout"], "test", validation=parts["validation"])
    assert ds.has_part(path, "validation")
    assert ds.read_split(path, "validation") == parts["validation"]
    ds.write_split(path, parts["train"], parts["heldout"], "older layout")
    with pytest.raises(ValueError, match="has no 'validation' part"):
        ds.read_split(path, "validation")
