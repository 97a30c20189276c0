"""What every gradient method needs around its backward passes.

Callers (the service, `explain`, benchmarks) often run under `torch.inference_mode()`, where no
graph is recorded; gradient methods switch autograd back on for their own work only. The model's
parameters are frozen while they run, so no weight gradients are computed or left in `.grad`, and
their `requires_grad` flags are restored exactly afterwards, also when the method is cancelled.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

from saliency.errors import UnsupportedMethod
from saliency.models.spec import LoadedModel


def require_gradients(model: LoadedModel, method: str) -> None:
    """The service refuses this at submit time; library callers get the same message here."""
    if not getattr(model.spec, "gradients", True):
        raise UnsupportedMethod(f"method {method!r} needs gradients, which model {model.spec.name!r} "
                                "does not offer; use a black-box method")


@contextmanager
def autograd_on() -> Iterator[None]:
    with torch.inference_mode(False), torch.enable_grad():
        yield


@contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Parameters stop requiring gradients inside; each gets its own flag back on leaving."""
    params = list(module.parameters())
    saved = [p.requires_grad for p in params]
    try:
        for p in params:
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in zip(params, saved):
            p.requires_grad_(flag)


def plain(x: torch.Tensor) -> torch.Tensor:
    """A copy usable by autograd: inputs made under inference mode cannot be saved for backward."""
    return x.detach().clone()
