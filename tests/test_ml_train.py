from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ml.cli import main as ml_main
from ml.serving.images import load_image
from ml.serving.inference import Classifier
from ml.serving.model import read_model_file
from ml.training.loop import (
    CachedPart,
    FeedbackMixLoss,
    SceneTagLoss,
    cached_batches,
    frozen_stages,
    shift_and_mirror,
)
from tests.ml_support import TINY_SIZE, make_tiny_data

COMMON = ["--input-size", str(TINY_SIZE), "--val-per-class", "1", "--holdout", "0.34", "--batch-size", "4",
          "--workers", "0", "--threads", "1", "--lr", "0.01"]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_data(tmp_path_factory.mktemp("data"), per_class=6)


def test_frozen_stages() -> None:
    assert frozen_stages(0) == 0
    assert frozen_stages(11) == 12


def test_shift_and_mirror_moves_maps_but_keeps_shape() -> None:
    maps = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)
    out = shift_and_mirror(maps, 1, torch.Generator().manual_seed(0))
    assert out.shape == maps.shape
    assert torch.equal(shift_and_mirror(maps, 0, torch.Generator(), mirror=False), maps)
    shifted = [shift_and_mirror(maps, 1, torch.Generator().manual_seed(seed)) for seed in range(5)]
    assert any(not torch.equal(s, maps) for s in shifted)


def test_train_on_photos_end_to_end(tiny_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert ml_main(["train", "--data", str(tiny_data), "--output", str(out), "--epochs", "2",
                    "--freeze-blocks", "14", "--augment-strength", "1", *COMMON]) == 0
    split = json.loads((out / "split.json").read_text())
    assert len(split["heldout"]) == 6 and not set(split["heldout"]) & set(split["train"])
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == [0, 1]
    assert history[1]["lr"] < history[0]["lr"]  # cosine decay within the run
    spec, _ = read_model_file(out / "model.pt")
    assert spec.classes == ["/a/abbey", "/b/bakery/shop", "/c/coffee_shop"]
    assert spec.remap["/a/abbey"] == "church" and "ml train" in spec.train_command
    assert spec.metrics["validation"]["photos"] == 3
    assert list((out / "tb").iterdir())
    prediction = Classifier.load(out / "model.pt", "cpu").predict([first_photo(tiny_data)])[0]
    assert prediction.hashtag in {"church", "shopping", "cafe", "other"}


def first_photo(root: Path) -> Image.Image:
    return load_image(next(root.rglob("*.jpg")))


def test_scene_tag_loss_matches_hand_computed_values() -> None:
    matrix = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # scenes 0 and 1 share tag 0
    logits = torch.zeros(1, 3)
    # uniform over 3 scenes: scene loss log 3; the true tag holds 2/3 of the probability
    def loss(weight: float, scene: int) -> float:
        return float(SceneTagLoss(matrix, weight, 0.0)(logits, torch.tensor([scene])))

    assert loss(1.0, 0) == pytest.approx(math.log(3) - math.log(2 / 3))
    assert loss(0.0, 0) == pytest.approx(math.log(3))
    assert loss(0.5, 2) == pytest.approx(math.log(3) - 0.5 * math.log(1 / 3))


def test_cached_batches_draw_one_view_per_batch_and_cover_every_row() -> None:
    rows = np.arange(2, 40)
    views = {name: np.full((40, 1, 2, 2), value, dtype=np.float16) for name, value in
             (("plain", 0), ("flip", 1), ("aug1", 2))}
    labels = np.arange(40)
    batches = list(cached_batches([CachedPart(views, rows, labels)], batch_size=5, max_shift=0,
                                  generator=torch.Generator().manual_seed(0)))
    assert sorted(torch.cat([targets for _, targets in batches]).tolist()) == rows.tolist()
    drawn = set()
    for maps, _ in batches:
        assert maps.unique().numel() == 1  # one view per batch
        drawn.add(int(maps[0, 0, 0, 0]))
    assert drawn == {0, 1, 2}


def test_train_from_feature_cache_and_resume(tiny_data: Path, tmp_path: Path) -> None:
    out, cache = tmp_path / "run", tmp_path / "cache"
    args = ["train", "--data", str(tiny_data), "--output", str(out), "--freeze-blocks", "11",
            "--cache-features", str(cache), "--cache-views", "plain,flip,aug1", "--tag-loss", "1", *COMMON]
    assert ml_main([*args, "--epochs", "1"]) == 0
    assert all((cache / f"{view}.npy").exists() for view in ("plain", "flip", "aug1"))
    assert ml_main([*args, "--epochs", "2", "--resume", str(out / "checkpoint.pt")]) == 0
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == [0, 1]
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    assert {"model", "optimizer", "lr_scheduler", "epoch", "args"} <= set(checkpoint)


def test_cache_needs_frozen_blocks(tiny_data: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="freeze-blocks"):
        ml_main(["train", "--data", str(tiny_data), "--output", str(tmp_path), "--cache-features",
                 str(tmp_path / "c"), *COMMON])


def test_tag_target_with_adam_and_constant_schedule(tiny_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert ml_main(["train", "--data", str(tiny_data), "--output", str(out), "--epochs", "1",
                    "--target", "tags", "--optimizer", "adam", "--schedule", "constant",
                    "--freeze-blocks", "14", *COMMON]) == 0
    spec, _ = read_model_file(out / "model.pt")
    assert spec.target == "tags" and spec.classes[-1] == "other" and len(spec.classes) == 21
    prediction = Classifier.load(out / "model.pt", "cpu").predict([first_photo(tiny_data)])[0]
    assert prediction.scenes == [] and sum(prediction.probabilities.values()) == pytest.approx(1, abs=1e-4)


def test_weights_digest_names_the_weights_not_the_module() -> None:
    from ml.training.loop import weights_digest

    torch.manual_seed(0)
    a = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    b = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    b.load_state_dict(a.state_dict())
    assert weights_digest([a]) == weights_digest([b])
    with torch.no_grad():
        b[0].weight[0, 0, 0, 0] += 1e-3
    assert weights_digest([a]) != weights_digest([b])
    b.load_state_dict(a.state_dict())
    b[1].running_mean += 1  # a buffer counts too: the cached maps depend on it
    assert weights_digest([a]) != weights_digest([b])


def test_feedback_mix_loss_weighs_tag_labelled_photos() -> None:
    matrix = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # scenes 0 and 1 share tag 0
    logits = torch.zeros(2, 3)
    base = SceneTagLoss(matrix, 0.0, 0.0)
    # row 0: a training photo of scene 2 (loss log 3); row 1: an extra photo tagged 0 (target 3 + 0), whose
    # tag holds 2/3 of the probability
    for weight in (1.0, 3.0):
        loss = FeedbackMixLoss(base, matrix, 3, weight)(logits, torch.tensor([2, 3]))
        assert float(loss) == pytest.approx((math.log(3) - weight * math.log(2 / 3)) / (1 + weight))
    only_extra = FeedbackMixLoss(base, matrix, 3, 2.0)(logits[:1], torch.tensor([4]))  # tag 1: one scene of 3
    assert float(only_extra) == pytest.approx(math.log(3))
    no_extra = FeedbackMixLoss(base, matrix, 3, 2.0)(logits[:1], torch.tensor([2]))
    assert float(no_extra) == pytest.approx(math.log(3))


def test_cached_batches_mix_every_row_of_every_part() -> None:
    main = CachedPart({"plain": np.zeros((10, 1, 2, 2), dtype=np.float16)}, np.arange(3, 10), np.arange(10))
    extra = CachedPart({"plain": np.ones((4, 1, 2, 2), dtype=np.float16)}, np.arange(4),
                       np.arange(100, 104))
    batches = list(cached_batches([main, extra], batch_size=3, max_shift=0,
                                  generator=torch.Generator().manual_seed(0)))
    pairs = sorted((int(label), float(maps[i].mean())) for maps, labels in batches
                   for i, label in enumerate(labels))
    assert pairs == [(label, 0.0) for label in range(3, 10)] + [(label, 1.0) for label in range(100, 104)]


def make_feedback_folder(folder: Path, photos: Path) -> Path:
    """What `ml feedback export` writes: abbey photos a user said are #cafe, one said to be #sky (a tag no
    tiny class maps to), and the manifest."""
    abbeys = sorted((photos / "a" / "abbey").glob("*.jpg"))
    (folder / "cafe").mkdir(parents=True)
    (folder / "sky").mkdir()
    for photo in abbeys[:4]:
        shutil.copy(photo, folder / "cafe" / photo.name)
    shutil.copy(abbeys[4], folder / "sky" / abbeys[4].name)
    (folder / "manifest.csv").write_text("path,tag,source\n")
    return folder


def test_scan_tagged_reads_the_feedback_layout(tiny_data: Path, tmp_path: Path) -> None:
    from ml.training.data import scan_tagged

    samples, tags = scan_tagged(make_feedback_folder(tmp_path / "fb", tiny_data))
    assert tags == ["cafe"] * 4 + ["sky"] and all(
        s.path.startswith(f"{t}/") for s, t in zip(samples, tags, strict=True))
    (tmp_path / "fb" / "beach").mkdir()
    shutil.copy(tiny_data / samples[0].path.replace("cafe", "a/abbey"), tmp_path / "fb" / "beach" / "x.jpg")
    with pytest.raises(ValueError, match="not tags"):
        scan_tagged(tmp_path / "fb")


@pytest.mark.parametrize("cache", [False, True], ids=["photos", "feature-cache"])
def test_extra_feedback_photos_pull_the_model_towards_their_tags(
    tiny_data: Path, tmp_path: Path, cache: bool
) -> None:
    from ml.training.data import scan_tagged

    feedback = make_feedback_folder(tmp_path / "fb", tiny_data)
    start = tmp_path / "start"
    assert ml_main(["train", "--data", str(tiny_data), "--output", str(start), "--epochs", "1",
                    "--freeze-blocks", "14", *COMMON]) == 0
    common = ["--data", str(tiny_data), "--init", str(start / "model.pt"),
              "--split", str(start / "split.json"),
              "--epochs", "2", "--freeze-blocks", "14", "--lr", "0.05", "--augment-strength", "0",
              *COMMON[:-2]]
    if cache:
        common += ["--cache-features", str(tmp_path / "cache")]
    assert ml_main(["train", "--output", str(tmp_path / "plain"), *common]) == 0
    assert ml_main(["train", "--output", str(tmp_path / "mixed"), *common, "--extra", str(feedback),
                    "--extra-weight", "20"]) == 0
    spec, _ = read_model_file(tmp_path / "mixed" / "model.pt")
    assert spec.metrics["extra"]["photos"] == 4  # the #sky photo cannot be learned by these classes
    assert spec.metrics["extra"]["weight"] == 20
    if cache:
        assert len(list((tmp_path / "cache").glob("extra-*/plain.npy"))) == 1
    samples, _ = scan_tagged(feedback)
    photos = [load_image(feedback / s.path) for s in samples[:4]]

    def cafe(run: str) -> float:
        predictions = Classifier.load(tmp_path / run / "model.pt", "cpu").predict(photos)
        return float(np.mean([p.probabilities["cafe"] for p in predictions]))

    assert cafe("mixed") > cafe("plain") + 0.05


def test_epoch_permutation_is_fixed_by_seed_and_epoch_and_skip_continues_it() -> None:
    from ml.training.loop import EpochPermutation

    sampler = EpochPermutation(20, seed=3)
    sampler.set_epoch(1)
    whole = list(sampler)
    assert sorted(whole) == list(range(20))
    sampler.set_epoch(2)
    assert list(sampler) != whole  # another epoch, another order
    sampler.set_epoch(1, skip=8)
    assert list(sampler) == whole[8:] and len(sampler) == 12


def test_epochs_of_fewer_photos_walk_through_one_pass_then_reshuffle() -> None:
    from ml.training.loop import EpochPermutation

    sampler = EpochPermutation(10, seed=0, per_epoch=4)  # a pass is 3 epochs: 4, 4 and 2 photos
    parts = []
    for epoch in range(3):
        sampler.set_epoch(epoch)
        parts.append(list(sampler))
        assert len(sampler) == len(parts[-1])
    assert [len(p) for p in parts] == [4, 4, 2] and sorted(i for p in parts for i in p) == list(range(10))
    sampler.set_epoch(3)  # the next pass: a new permutation
    assert list(sampler) != parts[0]
    sampler.set_epoch(1, skip=3)
    assert list(sampler) == parts[1][3:] and len(sampler) == 1


def test_given_options_reads_long_options_of_a_command_line() -> None:
    from ml.cli.train import given_options

    assert given_options(["train", "--resume", "r", "--epochs=3", "--no-bf16", "-v", "4"]) == {
        "resume", "epochs", "no_bf16"}


def test_a_run_stopped_mid_epoch_resumes_from_its_folder_at_the_batch_it_reached(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ml.training import loop

    out = tmp_path / "run"
    saves: list[int] = []
    real_save = loop.save_checkpoint

    def save_then_stop(path: Path, state: dict) -> None:
        real_save(path, state)
        saves.append(len(json.loads(state["epoch_losses"])))
        if len(saves) == 2:  # the second mid-epoch checkpoint: the process "dies" here
            raise KeyboardInterrupt

    monkeypatch.setattr(loop, "save_checkpoint", save_then_stop)
    args = ["train", "--data", str(tiny_data), "--output", str(out), "--epochs", "1", "--freeze-blocks", "14",
            *COMMON, "--batch-size", "2", "--checkpoint-minutes", "1e-9"]
    with pytest.raises(KeyboardInterrupt):
        ml_main(args)
    assert saves == [1, 2] and not (out / "history.json").exists()
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    assert checkpoint["epoch"] == -1 and len(json.loads(checkpoint["epoch_losses"])) == 2

    monkeypatch.setattr(loop, "save_checkpoint", real_save)
    skips: list[int] = []
    real_set_epoch = loop.EpochPermutation.set_epoch
    monkeypatch.setattr(loop.EpochPermutation, "set_epoch",
                        lambda self, epoch, skip=0: (skips.append(skip), real_set_epoch(self, epoch, skip)))
    # Only the folder and a longer run: the data, model and recipe come from the stored arguments.
    assert ml_main(["train", "--resume", str(out), "--epochs", "2", "--checkpoint-minutes", "0"]) == 0
    assert skips == [2 * 2, 0]  # epoch 0 from its third batch on, then epoch 1 whole
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == [0, 1]
    assert read_model_file(out / "model.pt")[0].input_size == TINY_SIZE


def test_resume_of_a_folder_without_a_checkpoint_says_so(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"no checkpoint\.pt"):
        ml_main(["train", "--resume", str(tmp_path)])
