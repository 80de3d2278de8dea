"""The serving API: load a model file once, then turn batches of PIL images into hashtag predictions.

Everything loads a `Classifier` through `ml.serving.loading.load_classifier` (torch here, or the ONNX Runtime
forward pass), then calls `predict(images, tta)`: the worker, `ml predict`, `ml evaluate`, `ml compare`,
`ml calibrate`, `ml promote`. Nothing here reads WordNet or the remap CSV: the model file carries its class
list and remap.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ml.serving.augment import tta_view
from ml.serving.model import ModelSpec, file_version, load_model
from ml.tags import ALL_LABELS, OTHER

logger = logging.getLogger(__name__)
TOP_SCENES = 5


@dataclass(frozen=True)
class Prediction:
    probabilities: dict[str, float]  # every label of ml.tags.ALL_LABELS (20 tags + "other"), sums to 1
    hashtag: str  # argmax label, may be "other"
    confidence: float  # probability of hashtag
    suggested: str | None  # the best of `suggestions`; None when abstaining
    scenes: list[tuple[str, float]]  # top-5 fine scene classes ("/c/coffee_shop", p), best first; [] for tags
    # The tags to offer, best first, each with its probability: one sure tag, or a ranked list (see
    # `ranked_suggestions`); [] when abstaining.
    suggestions: list[tuple[str, float]] = field(default_factory=list)


def label_matrix(spec: ModelSpec) -> torch.Tensor:
    """[classes, ALL_LABELS] 0/1 matrix summing class probabilities into tag probabilities.

    A scene missing from the remap, or mapped to a label this build does not know, counts as `other`."""
    matrix = torch.zeros(len(spec.classes), len(ALL_LABELS))
    index = {label: i for i, label in enumerate(ALL_LABELS)}
    for row, name in enumerate(spec.classes):
        label = name if spec.target == "tags" else spec.remap.get(name, OTHER)
        matrix[row, index.get(label, index[OTHER])] = 1.0
    return matrix


def tag_probabilities(class_p: torch.Tensor, matrix: torch.Tensor, balance: float) -> torch.Tensor:
    """[photos, ALL_LABELS]: class probabilities summed into tags, divided by (scenes per tag) ** balance and
    renormalised, so a tag covering many scenes (above all `other`) does not win by its breadth alone."""
    tags = class_p @ matrix
    if balance:
        tags = tags / matrix.sum(dim=0).clamp_min(1) ** balance
        tags = tags / tags.sum(dim=1, keepdim=True)
    return tags


def temper(class_p: torch.Tensor, temperature: float) -> torch.Tensor:
    """softmax(log p / T): the model file's calibration (see ml.training.calibration), identity for T = 1."""
    if temperature == 1.0:
        return class_p
    return (class_p.clamp_min(1e-12).log() / temperature).softmax(dim=1)


def decide(
    tag_probabilities: Sequence[float], threshold: float, tag_thresholds: Mapping[str, float] | None = None
) -> tuple[str, float, str | None]:
    """(argmax label, its probability, suggested label or None when abstaining below the label's own
    threshold, else the global one)."""
    best = max(range(len(ALL_LABELS)), key=lambda i: tag_probabilities[i])
    label, confidence = ALL_LABELS[best], float(tag_probabilities[best])
    needed = (tag_thresholds or {}).get(label, threshold)
    suggested = None if label == OTHER or confidence < needed else label
    return label, confidence, suggested


def offered_sizes(
    tag_p: np.ndarray, *, threshold: float, tag_thresholds: Mapping[str, float] | None, list_mass: float,
    list_max_tags: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The answer rule on a batch of tag probability rows [photos, labels]: per photo how many tags to offer
    (0: abstain) and the labels ranked best first [photos, max(list_max_tags, 1)].

    One tag when the best label is a tag that reaches its threshold (its own, else the global one, as in
    `decide`). Otherwise, when the model file has a list rule (`list_mass` > 0, chosen by `ml calibrate` on
    validation photos), the smallest ranked list of at least two labels whose probabilities add up to
    `list_mass`: offered when it has at most `list_max_tags` tags and no `other` (a plausible "no popular tag
    fits" means abstaining); else nothing. `ml calibrate` searches its grid with this same function."""
    tag_p = np.asarray(tag_p, dtype=np.float64)  # sums as the probabilities' Python floats would
    other = ALL_LABELS.index(OTHER)
    depth = max(list_max_tags, 1)
    ranked = np.argsort(-tag_p, axis=1, kind="stable")[:, :depth]  # ties: the first label, as `decide`
    top_p = np.take_along_axis(tag_p, ranked, axis=1)
    needed = np.full(len(ALL_LABELS), threshold)
    for tag, value in (tag_thresholds or {}).items():
        needed[ALL_LABELS.index(tag)] = value
    single = (ranked[:, 0] != other) & (top_p[:, 0] >= needed[ranked[:, 0]])
    sizes = np.where(single, 1, 0)
    if list_mass > 0 and list_max_tags >= 2:
        mass = np.cumsum(top_p, axis=1)
        no_other = np.cumprod(ranked != other, axis=1).astype(bool)  # no `other` up to this rank
        reached = (mass >= list_mass) & no_other & (np.arange(depth) >= 1)
        sizes = np.where(single, 1, np.where(reached.any(axis=1), reached.argmax(axis=1) + 1, 0))
    return sizes, ranked


def ranked_suggestions(
    tag_probabilities: Sequence[float], threshold: float, tag_thresholds: Mapping[str, float] | None = None,
    *, list_mass: float = 0.0, list_max_tags: int = 3,
) -> list[tuple[str, float]]:
    """The tags to offer for one photo, best first, with their probabilities (the rule: `offered_sizes`)."""
    sizes, ranked = offered_sizes(np.asarray([tag_probabilities]), threshold=threshold,
                                  tag_thresholds=tag_thresholds, list_mass=list_mass,
                                  list_max_tags=list_max_tags)
    return [(ALL_LABELS[i], float(tag_probabilities[i])) for i in ranked[0, :sizes[0]]]


def suggestable_tags(spec: ModelSpec) -> list[str]:
    """The tags (ml.tags order, without `other`) this model can suggest: some class sums into each, and its
    threshold can be met. Tags with no class (no training photo) never get probability, so never appear."""
    matrix = label_matrix(spec)
    reachable = [spec.tag_thresholds.get(label, spec.threshold) < 1 for label in ALL_LABELS]
    return [label for i, label in enumerate(ALL_LABELS)
            if label != OTHER and matrix[:, i].sum() > 0 and reachable[i]]


def remap_for(spec: ModelSpec, remap: dict[str, str]) -> dict[str, str]:
    """`remap` as the model file stores it: for a scene model every one of its classes (unknown -> other)."""
    if spec.target != "scenes":
        return dict(remap)
    return {scene: remap.get(scene, OTHER) for scene in spec.classes}


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"unknown device {device!r}; choose auto, cpu or cuda")
    return torch.device(device)


def choose_backend(requested: str, device_type: str) -> str:
    """The forward-pass backend for `requested` (auto, torch or onnx): auto is ONNX Runtime on the CPU
    (measured 3x faster there), torch on CUDA; ValueError for onnx off the CPU."""
    if requested == "auto":
        return "onnx" if device_type == "cpu" else "torch"
    if requested == "onnx" and device_type != "cpu":
        raise ValueError("onnx runs on the CPU only")
    return requested


def use_bf16(device: torch.device) -> bool:
    """Autocast to bf16 on CUDA, and on CPUs with AMX / AVX512-BF16 kernels, where it doubled throughput
    (measured 62 vs 28 photos/s for Lite0's first 12 stages on 2 cores); elsewhere it slows the CPU down."""
    if device.type == "cuda":
        return True
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


class Classifier:
    """A loaded model: `predict(images, tta)` -> one `Prediction` per image, deterministic."""

    def __init__(
        self,
        model: torch.nn.Module,
        spec: ModelSpec,
        version: str,
        device: torch.device,
        backend: str = "torch",
    ) -> None:
        self.spec = spec
        self.backend = backend  # "torch", or "onnx" / "onnx-int8" when `model` runs in ONNX Runtime
        self.name = f"{spec.backbone}-{spec.target}{len(spec.classes)}"
        self.version = version
        self.device = device
        self.threshold = float(spec.threshold)
        self.input_size = int(spec.input_size)
        self._model = model.to(device).eval()
        self._labels = label_matrix(spec).to(device)
        self.tags = suggestable_tags(spec)
        self._autocast = use_bf16(device)
        if device.type == "cuda":
            self._model = self._model.to(memory_format=torch.channels_last)
        # Small CPU batches keep activations in cache (3x faster than 64); the GPU wants large ones.
        self._chunk = 64 if device.type == "cuda" else 8

    @classmethod
    def load(cls, path: str | Path, device: str = "auto") -> Classifier:
        model, spec = load_model(path)
        classifier = cls(model, spec, file_version(path), resolve_device(device))
        logger.info("loaded %s version %s on %s", classifier.name, classifier.version, classifier.device)
        return classifier

    def set_remap(self, remap: dict[str, str]) -> None:
        """Sum scene probabilities into tags through another remap (no retraining for a scene model)."""
        self.spec.remap = remap_for(self.spec, remap)
        self._labels = label_matrix(self.spec).to(self.device)
        self.tags = suggestable_tags(self.spec)

    @torch.inference_mode()
    def class_probabilities(self, images: Sequence[Image.Image], tta: int = 1) -> torch.Tensor:
        """[len(images), classes] softmax probabilities averaged over `tta` test-time copies (on CPU)."""
        if tta < 1:
            raise ValueError(f"tta must be >= 1, got {tta}")
        spec = self.spec
        views = [tta_view(c, spec.input_size, spec.mean, spec.std, spec.tta_strength) for c in range(tta)]
        inputs = [view(image) for image in images for view in views]  # image-major: copies are adjacent
        chunks = []
        for start in range(0, len(inputs), self._chunk):
            batch = torch.stack(inputs[start:start + self._chunk]).to(self.device)
            if self.device.type == "cuda":
                batch = batch.to(memory_format=torch.channels_last)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self._autocast):
                logits = self._model(batch)
            chunks.append(logits.float().softmax(dim=1))
        probabilities = torch.cat(chunks).view(len(images), tta, -1).mean(dim=1)
        return probabilities.cpu()

    def predict(self, images: Sequence[Image.Image], tta: int = 1) -> list[Prediction]:
        if not images:
            return []
        class_p = temper(self.class_probabilities(images, tta), self.spec.temperature)
        tag_p = tag_probabilities(class_p, self._labels.cpu(), self.spec.tag_balance)
        sizes, ranked = offered_sizes(tag_p.numpy(), threshold=self.threshold,
                                      tag_thresholds=self.spec.tag_thresholds, list_mass=self.spec.list_mass,
                                      list_max_tags=self.spec.list_max_tags)
        predictions = []
        for scenes_row, tags_row, size, labels in zip(class_p.tolist(), tag_p.tolist(), sizes, ranked,
                                                      strict=True):
            label, confidence, _ = decide(tags_row, self.threshold, self.spec.tag_thresholds)
            suggestions = [(ALL_LABELS[i], tags_row[i]) for i in labels[:size]]
            top: list[tuple[str, float]] = []
            if self.spec.target == "scenes":
                order = sorted(range(len(scenes_row)), key=lambda i: -scenes_row[i])[:TOP_SCENES]
                top = [(self.spec.classes[i], scenes_row[i]) for i in order]
            predictions.append(Prediction(
                probabilities=dict(zip(ALL_LABELS, tags_row, strict=True)),
                hashtag=label, confidence=confidence, suggested=suggestions[0][0] if suggestions else None,
                scenes=top, suggestions=suggestions,
            ))
        return predictions

    def warmup(self) -> None:
        """One forward pass so the first real request does not pay for lazy initialisation."""
        self.predict([Image.new("RGB", (self.input_size, self.input_size), (127, 127, 127))])
