"""What every saliency method is: a function of (model, inputs, target, params) returning maps.

Methods are declared by name in the torch-free registry (saliency.catalog.methods), with their
options model and the import path of their function; `get_method` pairs the two here, where torch
is at hand.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

import torch
from pydantic import BaseModel

from saliency.catalog.methods import MethodInfo, import_function, method_info

Progress = Callable[[float], None]
# A classifier as methods see it: normalised images (N, C, H, W) -> class probabilities (N, classes).
Classifier = Callable[[torch.Tensor], torch.Tensor]


def preferred_chunk(model: Classifier, default: int) -> int:
    """Images per forward pass: a loaded model's runtime says (measured on its device,
    saliency.runtimes.calibrate); a plain function gets `default`."""
    return int(getattr(model, "chunk", None) or default)


@dataclass
class MethodOutput:
    maps: torch.Tensor  # (B, H, W) float32 at the model's input resolution
    queries: int  # model queries spent per image
    # sampling methods (saliency.methods.uncertainty): (B,) split-half reliability of each map and
    # (B, H, W) per-pixel standard error in the map's units; None for methods that do not sample
    stability: torch.Tensor | None = None
    uncertainty: torch.Tensor | None = None
    stopped: str | None = None  # "budget" (fixed), "target" (reached) or "cap" (adaptive, cap spent)


class MethodFn(Protocol):
    def __call__(self, model: Classifier, inputs: torch.Tensor, target: torch.Tensor,
                 params: Any, progress: Progress | None = None) -> MethodOutput: ...


@dataclass(frozen=True)
class MethodSpec:
    info: MethodInfo
    fn: MethodFn

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def needs(self) -> str:
        return self.info.needs

    @property
    def params(self) -> type[BaseModel]:
        return self.info.options

    def parse_params(self, raw: dict[str, Any] | None) -> BaseModel:
        return self.info.parse_params(raw)


_functions: dict[str, MethodFn] = {}


def get_method(name: str) -> MethodSpec:
    """The method and its function; UnknownMethod for a name nobody declared."""
    info = method_info(name)
    if name not in _functions:
        _functions[name] = import_function(info.function)
    return MethodSpec(info, _functions[name])
