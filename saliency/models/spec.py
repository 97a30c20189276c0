"""A model name carries everything needed to run it: weights, preprocessing, labels, device."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import torch
from PIL import Image
from torch import nn

from saliency.catalog.targets import resolve_target


@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Callable[[], nn.Module]  # the network with its weights, on the CPU, in eval mode
    labels: Callable[[], list[str]]
    input_size: tuple[int, int]  # (height, width) the whole image is resized to
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    output: Literal["logits", "probabilities"] = "logits"
    gradients: bool = True  # False for models only reachable as a black box
    description: str = ""
    source: str = field(default="builtin")
    generator: Path | None = None  # generator file for reconstructions (saliency.reconstruction.generator)
    generator_kind: Literal["dcgan", "inpainter"] | None = None  # what the file must be; None: as it says
    # Why it cannot run here (a weights file absent, and where to put it), or None: checked
    # without building it, so a catalog can list only models that will load.
    missing: Callable[[], str | None] = field(default=lambda: None, compare=False)


class LoadedModel:
    """A spec whose network is built, in eval mode, on its device. Callable: images -> probabilities."""

    def __init__(self, spec: ModelSpec, device: torch.device) -> None:
        self.spec = spec
        self.device = device
        self.module = spec.build().to(device)
        self.labels = spec.labels()
        self._mean = torch.tensor(spec.mean, device=device).view(1, 3, 1, 1)
        self._std = torch.tensor(spec.std, device=device).view(1, 3, 1, 1)

    @property
    def name(self) -> str:
        return self.spec.name

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """RGB image -> normalised (1, 3, H, W) at the model's input size; no crop, so the map covers it all."""
        h, w = self.spec.input_size
        resized = image.convert("RGB").resize((w, h), Image.BILINEAR)
        x = torch.from_numpy(np.asarray(resized, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
        return (x.to(self.device) - self._mean) / self._std

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self.module(x)
        return out.softmax(dim=1) if self.spec.output == "logits" else out

    def resolve_target(self, target: int | str | None, probs: torch.Tensor) -> int:
        """Top-1 when None; otherwise see `resolve_target`."""
        if target is None or target == "":
            return int(probs.argmax())
        return resolve_target(self.labels, target, self.name)
