"""A user's own models, declared in a TOML file; environment variables override single fields.

    [models.my_net]
    path = "my_net.pt"            # TorchScript (.pt), torch.export (.pt2) or ONNX (.onnx); relative to this file
    input_size = [224, 224]
    mean = [0.485, 0.456, 0.406]
    std = [0.229, 0.224, 0.225]
    labels = "my_net_labels.txt"  # one class name per line
    output = "logits"             # or "probabilities"
    generator = "my_inpainter.pt" # optional: generator for reconstructions (see saliency.reconstruction)
    generator_kind = "inpainter"  # optional: "inpainter" or "dcgan"; a file of the other kind is refused
    runtime = "auto"              # optional: auto, torch or onnx (saliency.runtimes.select)

An .onnx file is run by an ONNX engine only: black-box methods, no gradients (`gradients = true`
is refused), and `runtime = "torch"` is refused.

An entry with a `url` is a model served elsewhere: see saliency.models.remote.config for its keys.

File: $SALIENCY_MODELS_FILE, else ./models.toml when present.
Override: SALIENCY_MODELS__<name>__<field>=value (JSON for lists, e.g. '[0.5, 0.5, 0.5]').
"""
from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from torch import nn

from saliency.errors import ModelUnavailable
from saliency.models.remote.config import RemoteEntry, remote_spec
from saliency.models.spec import ModelSpec
from saliency.runtimes.base import Choice

ENV_FILE = "SALIENCY_MODELS_FILE"
ENV_PREFIX = "SALIENCY_MODELS__"


class ModelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: Path
    input_size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    labels: Path
    output: Literal["logits", "probabilities"] = "logits"
    description: str = ""
    gradients: bool = Field(True, description="False when the file cannot be differentiated")
    generator: Path | None = Field(None, description="image generator for reconstructions "
                                   "(saliency train-generator checkpoint or TorchScript)")
    runtime: Choice | None = Field(None, description="how forward passes run; default $SALIENCY_RUNTIME, "
                                                     "else auto")

    @model_validator(mode="after")
    def _onnx_is_black_box(self) -> "ModelEntry":
        if self.path.suffix.lower() != ".onnx":
            return self
        if "gradients" in self.model_fields_set and self.gradients:
            raise ValueError("gradients: an .onnx model offers none (black-box methods only); "
                             "drop the key or set it to false")
        if self.runtime == "torch":
            raise ValueError("runtime: an .onnx model runs on an ONNX engine, not torch; use auto or onnx")
        self.gradients = False
        return self
    generator_kind: Literal["dcgan", "inpainter"] | None = Field(
        None, description="the generator's kind (train-generator --kind); None accepts what the file is")


def config_path() -> Path | None:
    explicit = os.environ.get(ENV_FILE)
    if explicit:
        return Path(explicit)
    default = Path("models.toml")
    return default if default.exists() else None


def _env_overrides() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for key, value in os.environ.items():
        if key.startswith(ENV_PREFIX) and key.count("__") == 2:
            name, fieldname = key[len(ENV_PREFIX):].split("__")
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError:
                parsed = value
            out.setdefault(name, {})[fieldname.lower()] = parsed
    return out


def user_specs() -> dict[str, ModelSpec]:
    path = config_path()
    raw: dict[str, dict[str, Any]] = {}
    root = Path.cwd()
    if path is not None:
        if not path.exists():
            raise ModelUnavailable(f"{ENV_FILE} points to {path}, which does not exist")
        raw = tomllib.loads(path.read_text()).get("models", {})
        root = path.parent
    for name, fields in _env_overrides().items():
        raw.setdefault(name, {}).update(fields)
    specs = {}
    for name, fields in raw.items():
        remote = "url" in fields  # served elsewhere: saliency.models.remote
        try:
            entry = (RemoteEntry if remote else ModelEntry).model_validate(fields)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = "".join(f"{part}: " for part in (".".join(map(str, err["loc"])),) if part)
            raise ModelUnavailable(f"model {name!r} in {path}: {where}{err['msg'].removeprefix('Value error, ')}") from None
        specs[name] = remote_spec(name, entry, root) if remote else _spec(name, entry, root)
    return specs


def _spec(name: str, entry: ModelEntry, root: Path) -> ModelSpec:
    weights = entry.path if entry.path.is_absolute() else root / entry.path
    labels = entry.labels if entry.labels.is_absolute() else root / entry.labels
    return ModelSpec(
        name=name,
        build=lambda: load_file(weights),
        labels=lambda: read_labels(labels),
        input_size=entry.input_size,
        mean=entry.mean,
        std=entry.std,
        output=entry.output,
        gradients=entry.gradients,
        description=entry.description or f"user model from {weights.name}",
        source="config",
        generator=None if entry.generator is None else (
            entry.generator if entry.generator.is_absolute() else root / entry.generator),
        generator_kind=entry.generator_kind,
        missing=lambda: _first_missing(name, weights, labels),
        format="onnx" if weights.suffix.lower() == ".onnx" else "torch",
        weights_file=lambda: weights,
        runtime=entry.runtime,
    )


def _first_missing(name: str, *paths: Path) -> str | None:
    for path in paths:
        if not path.exists():
            return f"model {name!r}: {path} does not exist (the models file names it)"
    return None


def load_file(path: Path) -> nn.Module:
    """TorchScript or torch.export archives only: neither unpickles arbitrary objects."""
    if not path.exists():
        raise ModelUnavailable(f"model file {path} does not exist")
    try:
        if path.suffix == ".pt2":
            # The graph keeps the mode it was exported in; its module refuses .eval().
            return torch.export.load(str(path)).module()
        return torch.jit.load(str(path), map_location="cpu").eval()
    except Exception as exc:  # noqa: BLE001 - any unreadable file is reported the same way
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelUnavailable(f"model file {path} is not a TorchScript (.pt) or torch.export (.pt2) "
                               f"archive that loads here ({first[:200]})") from None


def read_labels(path: Path) -> list[str]:
    if not path.exists():
        raise ModelUnavailable(f"labels file {path} does not exist")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]
