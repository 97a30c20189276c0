"""RISE (Petsiuk et al. 2018): the class score averaged over random binary-grid masks.

The comparison every mask-sampling method must beat at an equal number of queries.
"""
from __future__ import annotations

import math

import torch

from saliency.catalog.options import RiseParams
from saliency.methods.base import Classifier, MethodOutput, Progress
from saliency.methods.masks import gaussian_blur, upsample_shifted
from saliency.methods.uncertainty import one_hot, reached, stability, standard_error


@torch.inference_mode()
def rise(model: Classifier, inputs: torch.Tensor, target: torch.Tensor,
         params: RiseParams, progress: Progress | None = None) -> MethodOutput:
    """Maps (B, H, W), their stability and per-pixel standard error (saliency.methods.uncertainty):
    mask j of an image belongs to group j mod G. A fixed budget draws `queries` masks; the
    adaptive rule checks the stability every `round_queries` masks and stops once every image
    reaches `target_stability`, or at `max_queries`. Rounds only split passes at their borders, so
    a fixed budget draws the same masks as before and an adaptive run that stops at q masks
    draws the map a fixed budget of q would when q is a multiple of the batch."""
    b, _, h, w = inputs.shape
    dev, g, budget = inputs.device, params.groups, params.budget
    gen = torch.Generator(device=dev).manual_seed(params.seed)
    base = torch.zeros_like(inputs) if params.baseline == "mean" else gaussian_blur(inputs)
    delta = inputs - base
    acc = torch.zeros(b, g, h, w, device=dev)
    counts = torch.zeros(g, device=dev)
    # Each pass explains all images with `per` masks each, so images share batches.
    per = max(1, params.batch_size // b)
    done, check, stab, stopped = 0, params.round_queries, None, "cap" if params.adaptive else "budget"

    def normalise(total: torch.Tensor) -> torch.Tensor:
        return total  # the map is the sum over N p_keep: an affine change the correlation ignores

    while done < budget:
        n = min(per, budget - done)
        if params.adaptive:
            n = min(n, check - done)
        grids = (torch.rand(b * n, params.grid, params.grid, device=dev, generator=gen) < params.p_keep).float()
        masks = upsample_shifted(grids, (h, w), gen)
        x = base.repeat_interleave(n, 0) + delta.repeat_interleave(n, 0) * masks[:, None]
        p = model(x)[torch.arange(b * n, device=dev), target.to(dev).repeat_interleave(n)].float()
        groups = torch.arange(done, done + n, device=dev) % g
        masks, p = masks.view(b, n, h * w), p.view(b, n)
        for i in range(b):
            acc[i] += (one_hot(groups, g, p[i]) @ masks[i]).view(g, h, w)
        counts += one_hot(groups, g).sum(1)
        done += n
        if progress is not None:
            progress(done / budget)
        if params.adaptive and done >= check and done < budget:
            check += params.round_queries
            stab = reached(acc, counts, normalise, params.target_stability, progress)
            if stab is not None:
                stopped = "target"
                break
    if stab is None:
        stab = stability(acc, counts, normalise)
    scale = done * params.p_keep
    return MethodOutput(maps=acc.sum(1) / scale, queries=done, stability=stab.float(),
                        uncertainty=standard_error(acc, counts) / scale, stopped=stopped)
