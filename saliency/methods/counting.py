"""Count the images a forward function sees, and report progress as they pass.

Captum's `attribute` runs its loop internally; wrapping the forward function is the one place
where a method can count its queries and call the progress callback (whose exception, e.g.
`Cancelled`, then stops the run from inside Captum's loop).
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch

from saliency.methods.base import Progress


class Counted:
    """`fn` wrapped: `passes` is the number of forward passes per image so far."""

    def __init__(self, fn: Callable[..., torch.Tensor], batch: int, expected_passes: int,
                 progress: Progress | None) -> None:
        self.fn = fn
        self.batch = batch
        self.expected_rows = max(1, batch * expected_passes)
        self.progress = progress
        self.rows = 0

    def __call__(self, x: torch.Tensor, *args: Any) -> torch.Tensor:
        out = self.fn(x, *args)
        self.rows += x.shape[0]
        if self.progress is not None:
            self.progress(min(self.rows / self.expected_rows, 1.0))
        return out

    @property
    def passes(self) -> int:
        return math.ceil(self.rows / self.batch)
