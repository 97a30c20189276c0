"""A model name carries everything needed to run it: weights, preprocessing, labels, device."""
from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable, Iterator, Literal

import numpy as np
import torch
from PIL import Image
from torch import nn

from saliency.catalog.targets import resolve_target
from saliency.models.identity import count_parameters, file_hash, onnx_parameters, weights_hash


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
    generator: Path | None = None  # DCGAN checkpoint or TorchScript for reconstructions
    # Why it cannot run here (a weights file absent, and where to put it), or None: checked
    # without building it, so a catalog can list only models that will load.
    missing: Callable[[], str | None] = field(default=lambda: None, compare=False)
    # "onnx": the network is an ONNX file (`weights_file`) that no torch code can run: black-box
    # methods only, through an ONNX engine; `build` is never called.
    format: Literal["torch", "onnx"] = "torch"
    # The file the weights come from: the runtime cache lives beside it (saliency.runtimes.export).
    weights_file: Callable[[], Path | None] = field(default=lambda: None, compare=False)
    runtime: str | None = None  # auto, torch or onnx; None: $SALIENCY_RUNTIME (saliency.runtimes.select)


class LoadedModel:
    """A spec whose network is built, in eval mode, on its device. Callable: images -> probabilities,
    through the runtime chosen for it (saliency.runtimes.select) in chunks of its preferred size.
    `module` is the torch network, which gradient methods use directly (None for an ONNX file)."""

    def __init__(self, spec: ModelSpec, device: torch.device) -> None:
        from saliency.runtimes.select import choose

        self.spec = spec
        self.device = device
        self.module = spec.build().to(device) if spec.format == "torch" else None
        self.labels = spec.labels()
        self._mean = torch.tensor(spec.mean, device=device).view(1, 3, 1, 1)
        self._std = torch.tensor(spec.std, device=device).view(1, 3, 1, 1)
        self.runtime, self.runtime_record = choose(self)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def logits(self) -> bool:
        return self.spec.output == "logits"

    @property
    def chunk(self) -> int:
        """Images per forward pass the runtime runs fastest at (measured on this device)."""
        return self.runtime.chunk

    @cached_property
    def weights_sha256(self) -> str:
        return weights_hash(self.module) if self.module is not None else file_hash(self.spec.weights_file())

    @cached_property
    def parameters(self) -> int:
        return count_parameters(self.module) if self.module is not None else onnx_parameters(self.spec.weights_file())

    @contextmanager
    def black_box(self) -> Iterator[None]:
        """Around a black-box method's run: while an engine with threads of its own runs the
        forward passes, torch's work between them (masks, sums: small and memory-bound) runs on
        one thread. Two pools on the same cores take turns badly: each one's threads keep spinning
        after its work, and in the calibration that times torch and ONNX Runtime in one process,
        torch at 2 images per pass fell to 0.9 images/s from 42 (docs/benchmarks.md, Runtimes).
        With one torch thread the engine has the cores to itself."""
        if not self.runtime.local_pool:
            yield
            return
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)

    def with_module(self, module: nn.Module) -> "LoadedModel":
        """A copy whose every pass runs `module` (e.g. re-initialised layers) on eager torch: a
        runtime built from this model's network would still run the original."""
        from saliency.runtimes.base import record
        from saliency.runtimes.torch_runtime import TorchRuntime

        twin = copy.copy(self)
        twin.module = module
        twin.runtime = TorchRuntime(module, self.logits, self.device, chunk=self.chunk)
        twin.runtime_record = record(twin.runtime, requested="torch")
        twin.__dict__.pop("weights_sha256", None)  # cached for the original weights
        twin.__dict__.pop("parameters", None)
        return twin

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """RGB image -> normalised (1, 3, H, W) at the model's input size; no crop, so the map covers it all."""
        h, w = self.spec.input_size
        resized = image.convert("RGB").resize((w, h), Image.BILINEAR)
        x = torch.from_numpy(np.asarray(resized, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
        return (x.to(self.device) - self._mean) / self._std

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] <= self.chunk:
            return self.runtime.run(x)
        return torch.cat([self.runtime.run(part) for part in x.split(self.chunk)])

    def resolve_target(self, target: int | str | None, probs: torch.Tensor) -> int:
        """Top-1 when None; otherwise see `resolve_target`."""
        if target is None or target == "":
            return int(probs.argmax())
        return resolve_target(self.labels, target, self.name)
