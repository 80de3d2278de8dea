"""The training loop behind `ml train` (arguments in ml/cli/train.py): fine-tune a backbone on a SUN397-layout
photo folder and write a self-describing model file.

Shape of torchvision's reference script: `train_one_epoch`, `validate`, then `main`, which reads top-down:
`load_data`, `build_network`, `build_batches`, `build_criterion`, `build_optimizer`, `resume`, `fit`, all
from one frozen `TrainConfig` (ml/training/config.py) made from the parsed arguments.
The run folder (`--output`) gets `split.json` (train / held-out photos: evaluate with it), `checkpoint.pt`
(resumable: model, optimizer, lr_scheduler, epoch, the batches done of the next epoch, args; written
atomically at each epoch's end and, on the whole-network path, every `--checkpoint-minutes` within one, so a
stopped run loses minutes, not an epoch), `model.pt` (the best epoch by weighted accuracy
on a validation part of the training split; the held-out split is never looked at), `history.json`
and TensorBoard logs under `tb/`.

With `--freeze-blocks N --cache-features DIR` the frozen stem + first N blocks run once per photo and their
output is cached (float16) in DIR, for the plain view and optionally its mirror and augmented views
(`--cache-views plain,flip,aug1,aug2`); epochs then train the remaining stages on the cached maps, one view
per batch, with a random shift of the maps (and mirroring when only the plain view is cached). Without a
cache every epoch runs the whole network on augmented photos (strength `--augment-strength`), the normal
path on a GPU. Its epochs visit the photos in a permutation fixed by (seed, epoch), which is what lets a run
resumed mid-epoch skip exactly the batches it had done.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Sampler

from ml.serving.images import load_image
from ml.serving.model import ModelSpec, SceneNet, build_model, default_mean_std, save_model
from ml.training import data as ds
from ml.training.config import TrainConfig
from ml.training.labels import load_remap, target_classes, target_indices
from ml.training.schedule import build_scheduler

logger = logging.getLogger(__name__)
TAG_BALANCES = (0.0, 0.25, 0.5, 0.75, 1.0)


def frozen_stages(freeze_blocks: int) -> int:
    """Stages run without gradients: none for 0, else the stem plus the first N blocks."""
    return 0 if freeze_blocks <= 0 else freeze_blocks + 1


def shift_and_mirror(
    maps: torch.Tensor, max_shift: int, generator: torch.Generator, mirror: bool = True
) -> torch.Tensor:
    """Augment cached feature maps: per sample a random shift of up to max_shift cells (edge-padded) and,
    when `mirror`, a horizontal flip with probability 1/2 (a stand-in for mirroring the photo)."""
    batch, _, height, width = maps.shape
    if max_shift > 0:
        padded = nn.functional.pad(maps, (max_shift,) * 4, mode="replicate")
        offsets = torch.randint(0, 2 * max_shift + 1, (batch, 2), generator=generator).tolist()
        maps = torch.stack(
            [padded[i, :, dy:dy + height, dx:dx + width] for i, (dy, dx) in enumerate(offsets)]
        )
    if mirror:
        flip = torch.rand(batch, generator=generator) < 0.5
        maps = torch.where(flip[:, None, None, None], maps.flip(-1), maps)
    return maps


@dataclass(frozen=True)
class CachedPart:
    """One photo folder's cached frozen-prefix maps (per view), the rows to train on and every row's label."""

    views: dict[str, np.ndarray]
    rows: np.ndarray
    labels: np.ndarray


def cached_batches(
    parts: Sequence[CachedPart], *, batch_size: int, max_shift: int, generator: torch.Generator
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Shuffled training batches over the rows of every part (the training photos, and --extra's), each batch
    from one cached view drawn uniformly; the maps are mirrored at random only when the cache holds the plain
    view alone."""
    names = sorted(parts[0].views)
    order = np.concatenate([np.stack([np.full(len(p.rows), i), p.rows], axis=1) for i, p in enumerate(parts)])
    order = order[torch.randperm(len(order), generator=generator).numpy()]
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        view = names[int(torch.randint(len(names), (1,), generator=generator))]
        maps, labels = [], []
        for i, part in enumerate(parts):
            rows = np.sort(chunk[chunk[:, 0] == i, 1])  # sorted rows read the memmap sequentially
            if len(rows):
                maps.append(torch.from_numpy(part.views[view][rows].astype(np.float32)))
                labels.append(torch.from_numpy(part.labels[rows]))
        maps_batch = shift_and_mirror(torch.cat(maps), max_shift, generator, mirror=names == ["plain"])
        yield maps_batch, torch.cat(labels)


class EpochPermutation(Sampler[int]):
    """An epoch's indices of 0..n-1, less the first `skip` of them, from a permutation drawn from (seed,
    pass) alone: shuffling that a resumed run can repeat, unlike a DataLoader generator's state. With
    `per_epoch` < n an epoch is the next `per_epoch` indices of the pass's permutation (a pass over the
    photos takes ceil(n / per_epoch) epochs), so a slow machine validates and saves more often."""

    def __init__(self, n: int, seed: int, per_epoch: int | None = None) -> None:
        self.n, self.seed = n, seed
        self.per_epoch = min(per_epoch or n, n)
        self.epochs_per_pass = math.ceil(n / self.per_epoch)
        self.epoch, self.skip = 0, 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, skip

    def _slice(self) -> tuple[int, int, int]:
        """(pass, first, end) of this epoch's part of its pass's permutation, less the skipped indices."""
        pass_, part = divmod(self.epoch, self.epochs_per_pass)
        end = min((part + 1) * self.per_epoch, self.n)
        return pass_, min(part * self.per_epoch + self.skip, end), end

    def __iter__(self) -> Iterator[int]:
        pass_, first, end = self._slice()
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + pass_)
        yield from torch.randperm(self.n, generator=generator)[first:end].tolist()

    def __len__(self) -> int:
        _, first, end = self._slice()
        return end - first


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """torch.save through a temporary file and a rename: a stop while writing keeps the previous one."""
    partial = path.with_suffix(".partial")
    torch.save(state, partial)
    os.replace(partial, path)


def tag_nll(
    logits: torch.Tensor, matrix: torch.Tensor, tags: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """Negative log of each photo's tag probability: its classes' softmax summed through `matrix`
    [classes, tags] (clamped, so a tag with no probability costs a large finite loss)."""
    tag_p = logits.softmax(dim=1) @ matrix
    return nn.functional.nll_loss(tag_p.clamp_min(1e-8).log(), tags, reduction=reduction)


class SceneTagLoss(nn.Module):
    """Cross-entropy on the scene classes plus `tag_weight` x the negative log of the true tag's summed
    probability (what tag accuracy rewards: confusing two scenes of one tag costs nothing there)."""

    def __init__(self, matrix: torch.Tensor, tag_weight: float, label_smoothing: float) -> None:
        super().__init__()
        self.register_buffer("matrix", matrix.float())  # [classes, tags], one 1 per row
        self.register_buffer("tag_of_class", matrix.argmax(dim=1))
        self.tag_weight = tag_weight
        self.scene_loss = nn.CrossEntropyLoss(label_smoothing=label_smoothing)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        loss = self.scene_loss(logits, targets)
        if self.tag_weight:
            loss = loss + self.tag_weight * tag_nll(logits, self.matrix, self.tag_of_class[targets])
        return loss


class FeedbackMixLoss(nn.Module):
    """`base` on the training photos; on --extra photos, labelled with a tag rather than a class (their
    targets are `classes` + the tag's index in ALL_LABELS), the negative log of the tag's summed probability.
    Each extra photo weighs `weight` training photos in the batch mean."""

    def __init__(self, base: nn.Module, matrix: torch.Tensor, classes: int, weight: float) -> None:
        super().__init__()
        self.base = base
        self.register_buffer("matrix", matrix.float())  # [classes, tags]
        self.classes = classes
        self.weight = weight

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        extra = targets >= self.classes
        n_extra = int(extra.sum())
        n_main = len(targets) - n_extra
        total = logits.new_zeros(())
        if n_main:
            total = total + n_main * self.base(logits[~extra], targets[~extra])
        if n_extra:
            tags = targets[extra] - self.classes
            total = total + self.weight * tag_nll(logits[extra], self.matrix, tags, reduction="sum")
        return total / (n_main + self.weight * n_extra)


def train_one_epoch(
    model: SceneNet, start: int, batches: Iterator, *, frozen: int, total: int,
    optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler, criterion: nn.Module,
    device: torch.device, bf16: bool, epoch: int, losses: list[float] | None = None,
    progress: Callable[[list[float]], None] | None = None, progress_every_s: float = 300.0,
) -> float:
    """One pass over batches entering stage `start`; returns the mean loss. The first `frozen` stages stay
    in eval mode (their BN statistics are part of the pretrained features). `losses` holds those of the
    batches an interrupted pass already did (it grows in place); `progress(losses)` is called every
    `progress_every_s` seconds, after an optimiser step (to checkpoint)."""
    from tqdm import tqdm

    model.train()
    for stage in model.stages[:frozen]:
        stage.eval()
    losses = [] if losses is None else losses
    last_progress = time.monotonic()
    for inputs, targets in tqdm(batches, total=total, initial=len(losses), desc=f"epoch {epoch}",
                                leave=False):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model.forward_from(inputs.to(device), start)
        loss = criterion(logits.float(), targets.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        if progress is not None and time.monotonic() - last_progress >= progress_every_s:
            progress(losses)
            last_progress = time.monotonic()
    return float(np.mean(losses))


@torch.inference_mode()
def class_probabilities(
    model: SceneNet, start: int, batches: Iterator, device: torch.device, bf16: bool
) -> np.ndarray:
    model.eval()
    out = []
    for inputs, _ in batches:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out.append(model.forward_from(inputs.to(device), start).float().softmax(dim=1).cpu())
    return torch.cat(out).numpy()


def validate(
    model: SceneNet, start: int, batches: Iterator, tag_targets: np.ndarray, spec: ModelSpec, *,
    device: torch.device, bf16: bool, target_precision: float,
) -> dict[str, Any]:
    """Tag accuracy / weighted accuracy (eqs. 12, 13) and the abstain threshold on the validation photos,
    at the tag balance (see ModelSpec.tag_balance) that maximises their mean."""
    from ml.serving.inference import label_matrix, tag_probabilities
    from ml.tags import ALL_LABELS, OTHER
    from ml.training.metrics import summarize

    probabilities = torch.from_numpy(class_probabilities(model, start, batches, device, bf16))
    matrix = label_matrix(spec)
    reports = []
    for balance in TAG_BALANCES if spec.target == "scenes" else (0.0,):
        tag_p = tag_probabilities(probabilities, matrix, balance).numpy()
        report = summarize(tag_targets, tag_p, ALL_LABELS, ALL_LABELS.index(OTHER), target_precision)
        report.pop("abstain_curve")
        reports.append(report | {"tag_balance": balance})
    return max(reports, key=lambda r: (r["accuracy"] + r["weighted_accuracy"], -r["tag_balance"]))


def prepare_split(config: TrainConfig) -> tuple[list[ds.Sample], list[ds.Sample], list[ds.Sample] | None]:
    """(train, held-out, validation or None) from `--split`, else the run's own split.json when resuming,
    else a new stratified split written there. Validation is None for a split without that part: it is then
    the start of the class-interleaved training order."""
    split_path = config.output / "split.json"
    if config.split:
        given = Path(config.split).read_text()
        if split_path.exists() and split_path.read_text() != given:
            raise SystemExit(f"{split_path} differs from --split {config.split}: use a new --output")
        split_path.write_text(given)
    if split_path.exists():
        has_validation = ds.has_part(split_path, "validation")
        validation = ds.read_split(split_path, "validation") if has_validation else None
        return ds.read_split(split_path, "train"), ds.read_split(split_path, "heldout"), validation
    samples = ds.scan(config.data)
    if config.split_lists:
        train, held = ds.official_split(samples, Path(config.split_lists[0]), Path(config.split_lists[1]))
        how = f"official lists {config.split_lists[0]} / {config.split_lists[1]}"
    else:
        train, held = ds.stratified_split(samples, config.holdout, config.seed)
        how = f"stratified, holdout {config.holdout}, seed {config.seed}"
    ds.write_split(split_path, train, held, how)
    return train, held, None


def initial_weights(path: str, backbone: str, classes: list[str]) -> tuple[dict[str, torch.Tensor], str]:
    """The state_dict of `--init`'s network for `backbone` (an ensemble's member of that backbone) and a
    name for it; SystemExit when the file has no such network or another class list."""
    from ml.serving.model import file_version, read_member

    try:
        spec, state = read_member(path, backbone)
    except ValueError as error:
        raise SystemExit(f"--init: {error}") from None
    if spec.classes != classes:
        raise SystemExit(f"--init {path}: its classes differ from this data's ({len(spec.classes)} vs "
                         f"{len(classes)})")
    return state, f"{file_version(path)}:{backbone}"


def extra_photos(
    folder: str | None, matrix: torch.Tensor, classes: int
) -> tuple[list[ds.Sample], np.ndarray]:
    """--extra's photos and their targets (`classes` + the tag's index, see FeedbackMixLoss). Photos of a tag
    that none of the model's classes sums into are left out: their loss could not move the network."""
    from ml.tags import ALL_LABELS

    if not folder:
        return [], np.zeros(0, dtype=np.int64)
    samples, tags = ds.scan_tagged(folder)
    reachable = matrix.sum(dim=0) > 0
    keep = [i for i, tag in enumerate(tags) if reachable[ALL_LABELS.index(tag)]]
    if len(keep) < len(samples):
        left_out = sorted({tag for tag in tags if not reachable[ALL_LABELS.index(tag)]})
        logger.warning("--extra: %d photos of tags no class of this model maps to are left out: %s",
                       len(samples) - len(keep), ", ".join(left_out))
    return [samples[i] for i in keep], np.array([classes + ALL_LABELS.index(tags[i]) for i in keep],
                                                dtype=np.int64)


def weights_digest(modules: Any) -> str:
    """sha256 (12 hex) of the modules' parameters and buffers, in state_dict order."""
    import hashlib

    digest = hashlib.sha256()
    for module in modules:
        for name, tensor in module.state_dict().items():
            digest.update(name.encode() + tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class TrainingData:
    """The photos of a run in the order its rows use: validation first, then training, class-interleaved."""

    ordered: list[ds.Sample]
    n_val: int  # rows [0, n_val) validate
    train_rows: np.ndarray  # the rows that train (up to --cache-rows)
    labels: np.ndarray  # per row: the class the loss sees
    tag_targets: np.ndarray  # per row: its tag's index in ml.tags.ALL_LABELS
    classes: list[str]
    remap: dict[str, str]  # every scene of the split -> its tag
    fingerprint: str  # of the training and held-out photos: the model file records it


@dataclass(frozen=True)
class Network:
    model: SceneNet
    spec: ModelSpec
    frozen: int  # stages run without gradients
    prefix_weights: str | None  # digest of the frozen stages' --init weights (the feature cache's key)


@dataclass(frozen=True)
class ExtraPhotos:
    """--extra's tag-labelled photos (the operator's feedback loop) and their targets."""

    samples: list[ds.Sample]
    labels: np.ndarray


@dataclass(frozen=True)
class Batches:
    train: Callable[[], Iterator]  # one epoch's batches
    validation: Callable[[], Iterator]
    steps: int  # batches in a whole epoch
    start: int  # the stage the batches enter: the frozen stages' output when cached, else 0 (photos)
    sampler: EpochPermutation | None  # photos only: it lets a run resumed mid-epoch skip the batches done


@dataclass
class Progress:
    """Where a run stands: what a checkpoint keeps besides the weights."""

    first_epoch: int = 0
    best: float = -1.0
    bad_epochs: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    done_losses: list[float] = field(default_factory=list)  # batches of first_epoch done before a stop


def load_data(config: TrainConfig) -> TrainingData:
    from ml.tags import ALL_LABELS, OTHER

    train_part, held, validation = prepare_split(config)
    if validation is None:
        ordered = ds.class_interleaved(train_part, config.seed)
        n_val = config.val_per_class * len({s.scene for s in train_part})
    else:  # the split's own validation photos come first, in the same interleaved order
        interleaved = ds.class_interleaved
        ordered = interleaved(validation, config.seed) + interleaved(train_part, config.seed)
        n_val = len(validation)
        train_part = [*validation, *train_part]
    scenes = sorted({s.scene for s in train_part} | {s.scene for s in held})
    remap = load_remap(config.remap)
    classes = target_classes(config.target, scenes)
    last_row = len(ordered) if config.cache_rows is None else min(config.cache_rows, len(ordered))
    data = TrainingData(
        ordered=ordered, n_val=n_val, train_rows=np.arange(n_val, last_row),
        labels=np.array(target_indices(config.target, classes, [s.scene for s in ordered], remap)),
        tag_targets=np.array([ALL_LABELS.index(remap.get(s.scene, OTHER)) for s in ordered]),
        classes=classes, remap={s: remap.get(s, OTHER) for s in scenes},
        fingerprint=ds.fingerprint(sorted([*train_part, *held], key=lambda s: s.path)),
    )
    logger.info("%d classes; %d validation, %d training photos (%d held out, untouched)",
                len(classes), n_val, len(data.train_rows), len(held))
    return data


def build_network(config: TrainConfig, data: TrainingData, device: torch.device) -> Network:
    mean, std = default_mean_std(config.backbone)
    # With --init the pretrained weights would only be overwritten: build the bare network.
    model = build_model(config.backbone, len(data.classes), config.input_size,
                        weights=None if config.init else config.weights)
    frozen = frozen_stages(config.freeze_blocks)
    prefix_weights = None
    if config.init:
        state, init_name = initial_weights(config.init, config.backbone, data.classes)
        model.load_state_dict(state)
        # The cache depends on the frozen stages' weights, not on which file brought them.
        prefix_weights = weights_digest(model.stages[:frozen])
        logger.info("initialised from %s (frozen prefix %s)", init_name, prefix_weights)
    model.to(device)
    for stage in model.stages[:frozen]:
        stage.requires_grad_(False)
    spec = ModelSpec(
        backbone=config.backbone, input_size=config.input_size, mean=mean, std=std, target=config.target,
        classes=data.classes, remap=data.remap, tta_strength=max(config.augment_strength, 1.0),
        train_command=config.command, data_fingerprint=data.fingerprint,
    )
    return Network(model, spec, frozen, prefix_weights)


def load_extra(config: TrainConfig, network: Network) -> ExtraPhotos:
    from ml.serving.inference import label_matrix

    samples, labels = extra_photos(config.extra, label_matrix(network.spec), len(network.spec.classes))
    if samples:
        logger.info("%d --extra photos from %s, weight %s each", len(samples), config.extra,
                    config.extra_weight)
    return ExtraPhotos(samples, labels)


def build_batches(
    config: TrainConfig, data: TrainingData, network: Network, extra: ExtraPhotos, device: torch.device
) -> Batches:
    """Cached frozen-prefix maps (--cache-features), or photos through the whole network."""
    generator = torch.Generator().manual_seed(config.seed)
    if config.cache_features:
        return cached_feature_batches(config, data, network, extra, device=device, generator=generator)
    return photo_batches(config, data, network, extra, generator)


def cached_feature_batches(
    config: TrainConfig, data: TrainingData, network: Network, extra: ExtraPhotos, *, device: torch.device,
    generator: torch.Generator,
) -> Batches:
    from ml.training.feature_cache import build_cache, cache_key, cached_rows, open_cache

    assert config.cache_features is not None
    cache_dir, model, spec = Path(config.cache_features), network.model, network.spec

    def cached(folder: Path, photos_root: Path, samples: list[ds.Sample], rows: int) -> dict[str, np.ndarray]:
        key = cache_key(config.backbone, config.input_size, network.frozen, samples,
                        config.cache_views.split(","), augment_strength=config.augment_strength,
                        prefix_weights=network.prefix_weights)
        if cached_rows(folder, key) < rows:
            build_cache(folder, photos_root, samples, model.cpu(), key, mean=spec.mean, std=spec.std,
                        workers=config.workers)
            model.to(device)
        return open_cache(folder, key, rows)

    last_row = int(data.train_rows[-1]) + 1 if len(data.train_rows) else data.n_val
    views = cached(cache_dir, config.data, data.ordered, last_row)
    parts = [CachedPart(views, data.train_rows, data.labels)]
    if extra.samples:  # their own cache beside the training photos', keyed by their paths
        extra_dir = cache_dir / f"extra-{ds.fingerprint(extra.samples)}"
        extra_views = cached(extra_dir, Path(config.extra or ""), extra.samples, len(extra.samples))
        parts.append(CachedPart(extra_views, np.arange(len(extra.samples)), extra.labels))

    def validation() -> Iterator:
        for lo in range(0, data.n_val, config.batch_size):
            rows = np.arange(lo, min(lo + config.batch_size, data.n_val))
            yield torch.from_numpy(views["plain"][rows].astype(np.float32)), None

    return Batches(
        train=lambda: cached_batches(parts, batch_size=config.batch_size, max_shift=config.feature_shift,
                                     generator=generator),
        validation=validation,
        steps=math.ceil((len(data.train_rows) + len(extra.samples)) / config.batch_size),
        start=network.frozen,  # cached epochs are short: checkpoints at their end only
        sampler=None,
    )


def photo_batches(
    config: TrainConfig, data: TrainingData, network: Network, extra: ExtraPhotos, generator: torch.Generator
) -> Batches:
    from torch.utils.data import ConcatDataset, DataLoader

    from ml.serving.augment import train_transform
    from ml.serving.preprocess import eval_transform

    spec = network.spec
    augment = train_transform(config.input_size, spec.mean, spec.std, config.augment_strength)
    train_set: Any = ds.PhotoDataset(config.data, [data.ordered[i] for i in data.train_rows],
                                     data.labels[data.train_rows].tolist(), augment)
    if extra.samples:
        extra_set = ds.PhotoDataset(config.extra, extra.samples, extra.labels.tolist(), augment)
        train_set = ConcatDataset([train_set, extra_set])
    val_set = ds.PhotoDataset(config.data, data.ordered[:data.n_val], data.labels[:data.n_val].tolist(),
                              eval_transform(config.input_size, spec.mean, spec.std))
    sampler = EpochPermutation(len(train_set), config.seed, config.epoch_photos)
    train_loader = DataLoader(train_set, batch_size=config.batch_size, sampler=sampler,
                              num_workers=config.workers, generator=generator,
                              drop_last=len(train_set) > config.batch_size)
    val_loader = DataLoader(val_set, batch_size=config.batch_size, num_workers=config.workers)
    # set_epoch(..., skip) shortens the loader; steps stay the full epoch's. Frozen stages build no graph.
    return Batches(train=lambda: iter(train_loader), validation=lambda: iter(val_loader),
                   steps=len(train_loader), start=0, sampler=sampler)


def build_criterion(config: TrainConfig, network: Network, extra: ExtraPhotos) -> nn.Module:
    from ml.serving.inference import label_matrix

    matrix = label_matrix(network.spec)
    if config.target == "scenes":
        criterion: nn.Module = SceneTagLoss(matrix, config.tag_loss, config.label_smoothing)
    else:
        criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    if extra.samples:
        criterion = FeedbackMixLoss(criterion, matrix, len(network.spec.classes), config.extra_weight)
    return criterion


def build_optimizer(
    config: TrainConfig, model: SceneNet, steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        optimizer: torch.optim.Optimizer = torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay, nesterov=True
        )
    elif config.optimizer == "adam":
        optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    else:
        raise ValueError(f"unknown optimizer {config.optimizer!r}; choose sgd or adam")
    scheduler = build_scheduler(optimizer, config.schedule, lr_min=config.lr_min, lr_max=config.lr,
                                period=config.restart_period, steps_per_epoch=steps)
    return optimizer, scheduler


def resume(
    config: TrainConfig, model: SceneNet, optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler, steps: int,
) -> Progress:
    """The checkpoint's weights, optimiser and schedule loaded, and where it stopped; a fresh start without
    --resume."""
    if not config.resume:
        return Progress()
    checkpoint = torch.load(config.resume, map_location="cpu", weights_only=True)
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["lr_scheduler"])
    progress = Progress(first_epoch=checkpoint["epoch"] + 1, best=checkpoint["best"],
                        bad_epochs=checkpoint["bad_epochs"], history=json.loads(checkpoint["history"]),
                        done_losses=json.loads(checkpoint.get("epoch_losses", "[]")))
    logger.info("resumed from %s at epoch %d, batch %d of %d", config.resume, progress.first_epoch,
                len(progress.done_losses), steps)
    return progress


def checkpoint_state(
    config: TrainConfig, model: SceneNet, progress: Progress, *, optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler, epoch_done: int, losses: list[float],
) -> dict[str, Any]:
    """What a resumed run needs: after `epoch_done` whole epochs and `losses`' batches of the next."""
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "lr_scheduler": scheduler.state_dict(), "epoch": epoch_done, "epoch_losses": json.dumps(losses),
            "args": config.stored_args, "best": progress.best, "bad_epochs": progress.bad_epochs,
            "history": json.dumps(progress.history)}


def fit(
    config: TrainConfig, data: TrainingData, network: Network, extra: ExtraPhotos, batches: Batches, *,
    criterion: nn.Module, optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler,
    progress: Progress, device: torch.device, bf16: bool,
) -> float:
    """Epochs from where `progress` stands to --epochs or an early stop; the best validation weighted
    accuracy. Writes model.pt at each new best, checkpoint.pt and history.json at each epoch's end."""
    from torch.utils.tensorboard import SummaryWriter

    from ml.serving.preprocess import eval_transform

    model, spec, output = network.model, network.spec, config.output
    checkpoint_path = output / "checkpoint.pt"
    writer = SummaryWriter(str(output / "tb"))
    plain = eval_transform(config.input_size, spec.mean, spec.std)
    log_sample_images(writer, config.data, data.ordered[:16], plain, mean=spec.mean, std=spec.std)

    def state(epoch_done: int, losses: list[float]) -> dict[str, Any]:
        return checkpoint_state(config, model, progress, optimizer=optimizer, scheduler=scheduler,
                                epoch_done=epoch_done, losses=losses)

    for epoch in range(progress.first_epoch, config.epochs):
        began = time.monotonic()
        losses, progress.done_losses = progress.done_losses, []
        if batches.sampler is not None:
            batches.sampler.set_epoch(epoch, skip=len(losses) * config.batch_size)
        lr = optimizer.param_groups[0]["lr"]

        def save_progress(losses: list[float], epoch: int = epoch) -> None:
            save_checkpoint(checkpoint_path, state(epoch - 1, losses))
            logger.info("epoch %d: checkpoint at batch %d of %d (loss %.4f)", epoch, len(losses),
                        batches.steps, float(np.mean(losses[-200:])))

        mid_epoch = batches.sampler is not None and config.checkpoint_minutes > 0
        loss = train_one_epoch(model, batches.start, batches.train(), frozen=network.frozen,
                               total=batches.steps,
                               optimizer=optimizer, scheduler=scheduler, criterion=criterion, device=device,
                               bf16=bf16, epoch=epoch, losses=losses,
                               progress=save_progress if mid_epoch else None,
                               progress_every_s=60 * config.checkpoint_minutes)
        report = validate(model, batches.start, batches.validation(), data.tag_targets[:data.n_val], spec,
                          device=device, bf16=bf16, target_precision=config.target_precision)
        seconds = time.monotonic() - began
        progress.history.append({"epoch": epoch, "lr": lr, "loss": loss, "accuracy": report["accuracy"],
                                 "weighted_accuracy": report["weighted_accuracy"],
                                 "tag_balance": report["tag_balance"], "seconds": round(seconds, 1)})
        for name in ("loss", "accuracy", "weighted_accuracy", "lr"):
            writer.add_scalar(name, progress.history[-1][name], epoch)
        logger.info("epoch %d: lr %.5f loss %.4f val accuracy %.4f weighted %.4f (tag balance %.2f, %.0fs)",
                    epoch, lr, loss, report["accuracy"], report["weighted_accuracy"], report["tag_balance"],
                    seconds)
        if report["weighted_accuracy"] > progress.best + config.early_stop_eps:
            progress.bad_epochs = 0
        else:
            progress.bad_epochs += 1
        if report["weighted_accuracy"] > progress.best:
            progress.best = report["weighted_accuracy"]
            best = best_spec(spec, report, epoch=epoch, data=data, extra=extra, config=config)
            save_model(output / "model.pt", model, best)
        save_checkpoint(checkpoint_path, state(epoch, []))
        (output / "history.json").write_text(json.dumps(progress.history, indent=1))
        if progress.bad_epochs >= config.early_stop_patience:
            logger.info("early stop: weighted accuracy has not improved by %s in %d epochs",
                        config.early_stop_eps, progress.bad_epochs)
            break
    writer.close()
    return progress.best


def best_spec(
    spec: ModelSpec, report: dict[str, Any], *, epoch: int, data: TrainingData, extra: ExtraPhotos,
    config: TrainConfig,
) -> ModelSpec:
    """`spec` with the threshold, tag balance and validation metrics of a new best epoch."""
    spec.threshold = report["recommended_threshold"]
    spec.tag_balance = report["tag_balance"]
    spec.metrics = {"validation": {k: report[k] for k in ("photos", "accuracy", "weighted_accuracy")},
                    "epoch": epoch, "train_photos": len(data.train_rows)}
    if extra.samples:
        spec.metrics["extra"] = {"photos": len(extra.samples), "weight": config.extra_weight,
                                 "fingerprint": ds.fingerprint(extra.samples)}
    return spec


def main(config: TrainConfig) -> int:
    """Data, model, loss, optimiser and schedule, resume, then the epochs (torchvision's reference order)."""
    from ml.serving.inference import resolve_device, use_bf16

    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    # bf16 autocast: on CUDA, and on CPUs with bf16 kernels for the whole network, where
    # benchmarks/train_step.py measured it faster at every side (Lite0, 2 threads: 40 vs 31 photos/s at
    # 128 px, 14 vs 6 at 224). Not for the cached last blocks on CPU (its backward measured 3x slower), and
    # not on an AVX2-only CPU, where it is emulated (2.25 vs 7.37 photos/s fp32 at 224 px).
    bf16 = not config.no_bf16 and use_bf16(device) and (device.type == "cuda" or not config.cache_features)
    config.output.mkdir(parents=True, exist_ok=True)

    data = load_data(config)
    network = build_network(config, data, device)
    extra = load_extra(config, network)
    batches = build_batches(config, data, network, extra, device)
    criterion = build_criterion(config, network, extra).to(device)
    optimizer, scheduler = build_optimizer(config, network.model, batches.steps)
    progress = resume(config, network.model, optimizer, scheduler, batches.steps)
    best = fit(config, data, network, extra, batches, criterion=criterion, optimizer=optimizer,
               scheduler=scheduler, progress=progress, device=device, bf16=bf16)
    logger.info("best validation weighted accuracy %.4f; model written to %s", best,
                config.output / "model.pt")
    return 0


def log_sample_images(
    writer: Any, root: Path, samples: list[ds.Sample], transform: Any, *, mean: Any, std: Any
) -> None:
    """A grid of what the network sees (de-normalised), to catch preprocessing mistakes in TensorBoard."""
    images = torch.stack([transform(load_image(root / s.path)) for s in samples])
    images = images * torch.tensor(std)[:, None, None] + torch.tensor(mean)[:, None, None]
    writer.add_images("validation_samples", images.clamp(0, 1), 0)
