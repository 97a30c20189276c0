"""Model-randomisation sanity check (Adebayo et al. 2018): a map that explains the model must
change when the model's learned weights are destroyed.

Re-initialisation: every parameter tensor of a layer is redrawn from a Gaussian with that tensor's
own mean and standard deviation (the learned values are gone, the scale of the activations stays,
so the randomised model still gives non-degenerate probabilities). Buffers (e.g. batch-norm
statistics) are kept. `full` randomises all layers at once; `cascade` does it layer by layer from
the top (output) layer down, as in the paper, and reports each stage. The map is recomputed with
the same method, options and seed, on a deep copy of the network: the cached model is never
touched. Similarity: Spearman rank correlation (ties get average ranks) and Pearson correlation of
the two maps; the check passes when the final stage's Spearman correlation is below `threshold`.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from saliency.methods import get_method
from saliency.models import LoadedModel

THRESHOLD = 0.5


@dataclass
class Stage:
    layers: list[str]  # layers randomised so far
    spearman: float
    pearson: float


@dataclass
class SanityResult:
    stages: list[Stage] = field(default_factory=list)
    threshold: float = THRESHOLD

    @property
    def spearman(self) -> float:
        return self.stages[-1].spearman

    @property
    def passed(self) -> bool:
        return self.spearman < self.threshold


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1, tied values sharing their average rank."""
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_x)) + 1]
    ends = np.r_[starts[1:], x.size]
    avg = np.repeat((starts + ends - 1) / 2, ends - starts)
    ranks = np.empty(x.size)
    ranks[order] = avg
    return ranks


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    a, b = a - a.mean(), b - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 0 else 0.0  # a constant map carries no order


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    return pearson(_ranks(a.ravel()), _ranks(b.ravel()))


def layers_of(module: nn.Module) -> list[str]:
    """Names of the modules that own parameters, input side first (the order of named_parameters)."""
    names: list[str] = []
    for name, _ in module.named_parameters():
        owner = name.rpartition(".")[0]
        if owner not in names:
            names.append(owner)
    return names


@torch.no_grad()
def randomise_layer(module: nn.Module, layer: str, gen: torch.Generator) -> None:
    for name, p in module.named_parameters():
        if name.rpartition(".")[0] == layer:
            flat = p.detach().float()
            std = float(flat.std()) if flat.numel() > 1 else float(flat.abs().mean())
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            p.copy_((noise.to(p.device) * std + float(flat.mean())).to(p.dtype))


def randomised_copy(model: LoadedModel, layers: list[str], seed: int = 0) -> LoadedModel:
    """A LoadedModel sharing nothing mutable with `model`, with `layers` re-initialised."""
    twin = model.with_module(copy.deepcopy(model.module))
    gen = torch.Generator().manual_seed(seed)
    for layer in layers:
        randomise_layer(twin.module, layer, gen)
    return twin


def _map(model: LoadedModel, image: torch.Tensor, target: int, method: str, params: Any) -> np.ndarray:
    spec = get_method(method)
    parsed = spec.parse_params(params) if not hasattr(params, "model_dump") else params
    out = spec.fn(model, image, torch.tensor([target], device=image.device), parsed)
    return out.maps[0].detach().float().cpu().numpy()


def randomisation_check(model: LoadedModel, image: torch.Tensor, target: int, method: str,
                        params: dict[str, Any] | None = None, mode: Literal["full", "cascade"] = "full",
                        seed: int = 0, threshold: float = THRESHOLD,
                        reference: np.ndarray | None = None) -> SanityResult:
    """Similarity of the map on the trained model to maps on randomised copies of it."""
    params = params or {}
    ref = reference if reference is not None else _map(model, image, target, method, params)
    layers = layers_of(model.module)
    if not layers:
        raise ValueError("the model has no parameters to randomise")
    stages = [layers[::-1][: i + 1] for i in range(len(layers))] if mode == "cascade" else [layers[::-1]]
    result = SanityResult(threshold=threshold)
    for randomised in stages:
        twin = randomised_copy(model, randomised, seed)
        m = _map(twin, image, target, method, params)
        result.stages.append(Stage(randomised, spearman(ref, m), pearson(ref, m)))
    return result
