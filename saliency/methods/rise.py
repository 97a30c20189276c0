"""RISE (Petsiuk et al. 2018): the class score averaged over random binary-grid masks.

The comparison every mask-sampling method must beat at an equal number of queries.
"""
from __future__ import annotations

import math

import torch

from saliency.catalog.options import RiseParams
from saliency.methods.base import Classifier, MethodOutput, Progress
from saliency.methods.masks import gaussian_blur, upsample_shifted


@torch.inference_mode()
def rise(model: Classifier, inputs: torch.Tensor, target: torch.Tensor,
         params: RiseParams, progress: Progress | None = None) -> MethodOutput:
    b, _, h, w = inputs.shape
    dev = inputs.device
    gen = torch.Generator(device=dev).manual_seed(params.seed)
    base = torch.zeros_like(inputs) if params.baseline == "mean" else gaussian_blur(inputs)
    delta = inputs - base
    acc = torch.zeros(b, h, w, device=dev)
    # Each pass explains all images with `per` masks each, so images share batches.
    per = max(1, params.batch_size // b)
    rounds = math.ceil(params.queries / per)
    for r in range(rounds):
        n = min(per, params.queries - r * per)
        grids = (torch.rand(b * n, params.grid, params.grid, device=dev, generator=gen) < params.p_keep).float()
        masks = upsample_shifted(grids, (h, w), gen)
        x = base.repeat_interleave(n, 0) + delta.repeat_interleave(n, 0) * masks[:, None]
        p = model(x)[torch.arange(b * n, device=dev), target.to(dev).repeat_interleave(n)].float()
        acc += (p.view(b, n, 1, 1) * masks.view(b, n, h, w)).sum(1)
        if progress is not None:
            progress((r + 1) / rounds)
    return MethodOutput(maps=acc / (params.queries * params.p_keep), queries=params.queries)
