"""Coarse-grid masks to image-sized masks: the RISE trick (bilinear upsampling + random shift).

Shared by every mask-sampling method so they differ only in how the grids are chosen.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def upsample_shifted(grids: torch.Tensor, size: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
    """(N, s, s) grids -> (N, H, W) masks.

    Each grid is upsampled bilinearly to (s+1)*ceil(H/s) per side and cropped at a random offset in
    [0, cell) on each axis, so cell borders fall at a different place for every mask.
    """
    n, s = grids.shape[0], grids.shape[-1]
    h, w = size
    cell_h, cell_w = math.ceil(h / s), math.ceil(w / s)
    big = F.interpolate(grids[:, None], size=((s + 1) * cell_h, (s + 1) * cell_w),
                        mode="bilinear", align_corners=False)[:, 0]
    dev = grids.device
    dy = torch.randint(0, cell_h, (n,), device=dev, generator=generator)
    dx = torch.randint(0, cell_w, (n,), device=dev, generator=generator)
    rows = (dy[:, None] + torch.arange(h, device=dev))[:, :, None]
    cols = (dx[:, None] + torch.arange(w, device=dev))[:, None, :]
    return big[torch.arange(n, device=dev)[:, None, None], rows, cols]


def gaussian_blur(x: torch.Tensor, kernel: int = 11, sigma: float = 5.0) -> torch.Tensor:
    """Depthwise Gaussian blur with reflect padding (the RISE insertion baseline: 11, sigma 5)."""
    r = kernel // 2
    t = torch.arange(kernel, dtype=x.dtype, device=x.device) - r
    k1 = torch.exp(-(t**2) / (2 * sigma**2))
    k1 = k1 / k1.sum()
    c = x.shape[1]
    pad = F.pad(x, (r, r, r, r), mode="reflect")
    out = F.conv2d(pad, k1.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(out, k1.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
