"""Eager torch: the network as loaded, on its device. The reference for every other runtime."""
from __future__ import annotations

import torch
from torch import nn

from saliency.runtimes.base import softmax_if


class TorchRuntime:
    name = "torch"
    local_pool = False  # torch's own pool: the work between passes shares it

    def __init__(self, module: nn.Module, logits: bool, device: torch.device, chunk: int = 64) -> None:
        self.module, self.logits = module, logits
        self.version = torch.__version__
        self.where = str(device)
        self.chunk = chunk

    def run(self, images: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return softmax_if(self.logits, self.module(images))
