"""Coarse-grid masks to image-sized masks: the RISE trick (bilinear upsampling + random shift).

Shared by every mask-sampling method so they differ only in how the grids are chosen.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def draw_shifts(n: int, grid: int, size: tuple[int, int], generator: torch.Generator,
                device: torch.device) -> torch.Tensor:
    """(n, 2) random offsets (dy, dx) in [0, cell) for `upsample_at`: drawn apart from the
    upsampling so that a caller can upsample a few masks at a time and still draw the same numbers."""
    cell_h, cell_w = math.ceil(size[0] / grid), math.ceil(size[1] / grid)
    dy = torch.randint(0, cell_h, (n,), device=device, generator=generator)
    dx = torch.randint(0, cell_w, (n,), device=device, generator=generator)
    return torch.stack([dy, dx], dim=1)


def _resize_weights(out: int, cells: int, device: torch.device) -> torch.Tensor:
    """(out, cells): row i holds the weights bilinear resizing (align_corners=False, edges
    clamped, as F.interpolate does it) gives each cell in output pixel i."""
    src = ((torch.arange(out, device=device) + 0.5) * (cells / out) - 0.5).clamp_min(0)
    lo = src.floor().long().clamp(max=cells - 1)
    hi = (lo + 1).clamp(max=cells - 1)
    frac = src - lo
    weights = torch.zeros(out, cells, device=device)
    rows = torch.arange(out, device=device)
    weights.index_put_((rows, lo), 1 - frac, accumulate=True)
    weights.index_put_((rows, hi), frac, accumulate=True)
    return weights


def upsample_at(grids: torch.Tensor, size: tuple[int, int], shifts: torch.Tensor) -> torch.Tensor:
    """(N, s, s) grids -> (N, H, W) masks, each cropped at its offset from `draw_shifts`.

    Each grid is upsampled bilinearly to (s+1)*ceil(H/s) per side and cropped at its offset, so cell
    borders fall at a different place for every mask. Bilinear resizing is separable, so the crop
    is two small matrix products per mask, rows x grid x columns, and the large upsampled grid is
    never made: what F.interpolate then cropping gives, to float rounding.
    """
    s, (h, w), dev = grids.shape[-1], size, grids.device
    along_h = _resize_weights((s + 1) * math.ceil(h / s), s, dev)
    along_w = _resize_weights((s + 1) * math.ceil(w / s), s, dev)
    rows = along_h[shifts[:, 0, None] + torch.arange(h, device=dev)]  # (N, H, s)
    cols = along_w[shifts[:, 1, None] + torch.arange(w, device=dev)]  # (N, W, s)
    return rows @ grids @ cols.transpose(1, 2)


def upsample_shifted(grids: torch.Tensor, size: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
    """(N, s, s) grids -> (N, H, W) masks at fresh random offsets (the RISE trick)."""
    shifts = draw_shifts(grids.shape[0], grids.shape[-1], size, generator, grids.device)
    return upsample_at(grids, size, shifts)


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
