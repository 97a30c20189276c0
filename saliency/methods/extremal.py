"""Extremal perturbation (Fong, Patrick & Vedaldi, ICCV 2019), written from the paper.

Preserve game: find the smooth mask m of area a that keeps the target's score highest when
everything outside it is blurred: maximise score(m ⊗ x) - λ R_a(m). Delete game: the mask whose
blurring lowers the score most. Pieces:
- m ⊗ x blurs each pixel by sigma = max_blur * (1 - m(u)): a pyramid of `levels` blurred copies,
  linearly interpolated by the mask value (m = 1 keeps the pixel, m = 0 is fully blurred).
- m comes from a coarse grid by smooth max-convolution (saliency/methods/smooth_mask.py).
- R_a(m) = mean((sort(m) - r_a)^2), r_a being (1 - a)·N zeros then a·N ones: the mask's sorted
  values must look like exactly a·N ones, which fixes its area without fixing its shape.
- λ starts at `area_weight` and grows 0.35% per iteration, so the area is enforced ever harder.
- Adam on the grid parameters, projected to [0, 1] after each step; with `jitter` the perturbed
  image is mirrored on every other iteration, so the mask cannot exploit one exact alignment.
- Several `areas` give one mask each, optimised side by side; the map is their mean, so it is
  graded rather than nearly binary (TorchRay's pointing-game runs sum masks of areas 0.025 to 0.2).
Defaults at 224 px follow TorchRay (step 7, sigma 21, max blur 20) and scale with the image side.
Unlike TorchRay: Adam rather than SGD with momentum, parameters start at 0.5 rather than 1, the mask
stops at the image border (no margin), and 300 iterations rather than 800 by default (CPU).
The score is the network's raw output (`model.module`: logits, or probabilities when the model
only returns those). Nothing is random, so equal inputs give equal maps. `queries` counts forward
plus backward passes per image: 2 x iterations x areas. The model's weights are frozen during the run and
their `requires_grad` flags are restored afterwards (TorchRay leaves them off).
"""
from __future__ import annotations

import math

import torch

from saliency.catalog.options import ExtremalParams
from saliency.methods.base import MethodOutput, Progress
from saliency.methods.gradients import autograd_on, frozen, plain, require_gradients
from saliency.methods.masks import gaussian_blur
from saliency.methods.smooth_mask import SmoothMask
from saliency.models.spec import LoadedModel

LAMBDA_GROWTH = 1.0035


def blur_pyramid(x: torch.Tensor, levels: int, max_blur: float) -> torch.Tensor:
    """(B, L, C, H, W): level l blurred with sigma = max_blur * (1 - l / (L - 1)); the last is x."""
    side = min(x.shape[-2:])
    out = []
    for level in range(levels):
        sigma = max_blur * (1 - level / (levels - 1))
        radius = min(math.ceil(2 * sigma), side - 1)  # reflect padding must stay inside the image
        out.append(gaussian_blur(x, 2 * radius + 1, sigma) if radius > 0 else x)
    return torch.stack(out, 1)


def perturb(pyramid: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Each pixel from the pyramid level m(u)·(L - 1), interpolating linearly between levels."""
    levels = pyramid.shape[1]
    pos = mask[:, None, None] * (levels - 1)  # (B, 1, 1, H, W)
    idx = torch.arange(levels, device=mask.device, dtype=mask.dtype).view(1, -1, 1, 1, 1)
    weights = (1 - (pos - idx).abs()).clamp_min(0)  # hat functions: two levels share each pixel
    return (weights * pyramid).sum(1)


def area_loss(mask: torch.Tensor, areas: torch.Tensor) -> torch.Tensor:
    """(B,) mean squared gap between each sorted mask and a·N ones after (1 - a)·N zeros."""
    flat = mask.flatten(1)
    n = flat.shape[1]
    ones_from = n - (areas * n).round()
    ref = (torch.arange(n, device=mask.device) >= ones_from[:, None]).to(mask.dtype)
    return ((flat.sort(dim=1).values - ref) ** 2).mean(1)


def extremal_perturbation(model: LoadedModel, inputs: torch.Tensor, target: torch.Tensor,
                          params: ExtremalParams, progress: Progress | None = None) -> MethodOutput:
    require_gradients(model, "extremal_perturbation")
    b, _, h, w = inputs.shape
    k = len(params.areas)  # masks per image, optimised side by side: rows are (image, area)
    side = min(h, w)
    step = params.step or max(1, round(side / 32))
    sigma = params.sigma or 3.0 * step
    max_blur = params.max_blur or side * 20 / 224
    dev = inputs.device
    sign = 1.0 if params.variant == "preserve" else -1.0
    with autograd_on(), frozen(model.module):
        # Made here, not under the caller's inference mode: autograd may save any of them.
        rows = torch.arange(b * k, device=dev)
        tgt = plain(target).to(dev).repeat_interleave(k)
        areas = torch.tensor(params.areas, device=dev).repeat(b)
        pyramid = blur_pyramid(plain(inputs), params.levels, max_blur).repeat_interleave(k, 0)
        smooth = SmoothMask((h, w), step, sigma, dev)
        grid = torch.full((b * k, *smooth.grid), 0.5, device=dev, requires_grad=True)
        opt = torch.optim.Adam([grid], lr=params.lr)
        weight = params.area_weight
        for it in range(params.iterations):
            mask = smooth(grid)
            shown = perturb(pyramid, mask if sign > 0 else 1 - mask)
            if params.jitter and it % 2 == 1:
                shown = shown.flip(-1)
            score = model.module(shown)[rows, tgt]
            loss = (-sign * score + weight * area_loss(mask, areas)).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                grid.clamp_(0, 1)
            weight *= LAMBDA_GROWTH
            if progress is not None:
                progress((it + 1) / params.iterations)
        with torch.no_grad():
            maps = smooth(grid).view(b, k, h, w).mean(1).float()
    return MethodOutput(maps=maps, queries=2 * params.iterations * k)
