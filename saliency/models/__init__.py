"""The model registry: look a model up by name, load it once per process and device."""
from __future__ import annotations

import os
import threading

import torch

from saliency.catalog.methods import methods_for
from saliency.catalog.models import ModelInfo, labels_digest
from saliency.errors import DuplicateName, UnknownModel
from saliency.models.builtin import EFFICIENTNET_LITE0, download_weights, torchvision_names, torchvision_spec
from saliency.models.config import user_specs
from saliency.models.spec import LoadedModel, ModelSpec

DEFAULT_MODEL = "efficientnet_lite0"
_loaded: dict[tuple[str, str], LoadedModel] = {}
_lock = threading.Lock()


def default_device() -> torch.device:
    """$SALIENCY_DEVICE, else cuda when available, else the CPU."""
    name = os.environ.get("SALIENCY_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _user_specs() -> dict[str, ModelSpec]:
    """The models file's models; one named like a builtin model is an error, not a shadow."""
    users = user_specs()
    for name in users:
        if name == EFFICIENTNET_LITE0.name or name in torchvision_names():
            raise DuplicateName(f"model {name!r} is declared in the models file and is also a builtin model; "
                                "give it another name")
    return users


def get_spec(name: str) -> ModelSpec:
    """Registry keys only, never paths: a request cannot name a file."""
    users = _user_specs()
    if name in users:
        return users[name]
    if name == EFFICIENTNET_LITE0.name:
        return EFFICIENTNET_LITE0
    if name in torchvision_names():
        return torchvision_spec(name)
    raise UnknownModel(f"unknown model {name!r}; the model list (GET /models, `saliency models`) "
                       "names the known ones")


def list_models() -> list[ModelSpec]:
    """User models first, then the offline default, then torchvision's classifiers."""
    specs = list(_user_specs().values()) + [EFFICIENTNET_LITE0]
    return specs + [torchvision_spec(n) for n in torchvision_names()]


def load_model(name: str = DEFAULT_MODEL, device: torch.device | str | None = None) -> LoadedModel:
    """Build a model once per (name, device) in this process and keep it."""
    dev = torch.device(device) if device is not None else default_device()
    key = (name, str(dev))
    with _lock:
        if key not in _loaded:
            _loaded[key] = LoadedModel(get_spec(name), dev)
        return _loaded[key]


def describe(spec: ModelSpec) -> ModelInfo:
    """The model as a catalog lists it, without building its network (labels are read)."""
    missing = spec.missing()
    labels: list[str] = []
    if missing is None:
        try:
            labels = spec.labels()
        except Exception as exc:  # noqa: BLE001 - any unreadable labels file is reported the same way
            missing = f"model {spec.name!r}: its labels cannot be read ({exc})"
    if missing is None and spec.generator is not None and not spec.generator.exists():
        missing = f"model {spec.name!r}: its generator {spec.generator} does not exist"
    return ModelInfo(name=spec.name, description=spec.description, source=spec.source,
                     input_size=spec.input_size, classes=len(labels), gradients=spec.gradients,
                     methods=methods_for(spec.gradients), generator=spec.generator is not None,
                     available=missing is None, unavailable_reason=missing,
                     labels_sha256=labels_digest(labels))


__all__ = ["DEFAULT_MODEL", "LoadedModel", "ModelInfo", "ModelSpec", "default_device", "describe",
           "download_weights", "get_spec", "list_models", "load_model"]
