"""Paste an in-fill into the image's hole at full resolution, with a seam that reads only known pixels.

The generator works at its own size (32 or 64 px); the image keeps its own. The in-fill is
bilinearly resampled at the full-resolution positions of the hole (grid_sample on just the crop
around the hole, so a large photo is never blown up K times).

Seam: Poisson blending would need a solver per variation; instead, the mismatch d = x - fill on
the ring of known pixels around the hole (`feather` px wide) is spread into the hole (a box
average of d over the ring) and added to the fill with a weight that falls linearly from 1 at the
hole's edge to 0 at `feather` px inside. Known pixels are copied unchanged, bit for bit, and hidden
pixels are never read, so no hidden content can leak into a variation.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from saliency.reconstruction.region import Box


def sample_fill(fake: torch.Tensor, crop: Box, height: int, width: int) -> torch.Tensor:
    """G(z) (K, 3, S, S) -> its bilinear resample at the full-size pixels of `crop`, (K, 3, h, w).

    Pixel centres map as in F.interpolate(align_corners=False) resizing S x S to height x width.
    """
    dev = fake.device
    ys = (torch.arange(crop.y0, crop.y1, device=dev, dtype=torch.float32) + 0.5) / height * 2 - 1
    xs = (torch.arange(crop.x0, crop.x1, device=dev, dtype=torch.float32) + 0.5) / width * 2 - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    grid = torch.stack([gx, gy], dim=-1)[None].expand(fake.shape[0], -1, -1, -1)
    return F.grid_sample(fake, grid, mode="bilinear", padding_mode="border", align_corners=False)


def seam_weights(hole: Box, crop: Box, feather: int, height: int, width: int) -> torch.Tensor:
    """(h, w) weights of the seam correction inside the hole: 1 at its edge, 0 from `feather` px in.

    Edges of the hole that lie on the image border have no known pixels beyond them and are ignored.
    """
    ys = torch.arange(crop.y0, crop.y1, dtype=torch.float32)[:, None]
    xs = torch.arange(crop.x0, crop.x1, dtype=torch.float32)[None, :]
    inf = torch.tensor(float("inf"))
    # Distance, in pixels, to the nearest known pixel across each edge (1 for the first row inside).
    d = torch.minimum(
        torch.minimum(torch.where(torch.tensor(hole.y0 > 0), ys - hole.y0 + 1, inf),
                      torch.where(torch.tensor(hole.y1 < height), hole.y1 - ys, inf)),
        torch.minimum(torch.where(torch.tensor(hole.x0 > 0), xs - hole.x0 + 1, inf),
                      torch.where(torch.tensor(hole.x1 < width), hole.x1 - xs, inf)))
    w = (1 - (d - 1) / feather).clamp(0, 1) if feather > 0 else torch.zeros_like(d)
    inside = hole.mask(height, width)[crop.y0:crop.y1, crop.x0:crop.x1]
    return w * torch.from_numpy(inside)


def composite(x: torch.Tensor, fill: torch.Tensor, hole: Box, crop: Box, feather: int) -> torch.Tensor:
    """x: (3, H, W) image in [0, 1]; fill: (K, 3, h, w) in [0, 1] over `crop` (which contains the
    hole and a `feather` px ring around it where the image allows). Returns the (K, 3, h, w) crop of
    every variation: known pixels equal x exactly, hole pixels the fill plus the seam correction."""
    height, width = x.shape[-2:]
    patch = x[:, crop.y0:crop.y1, crop.x0:crop.x1]
    inside = torch.from_numpy(hole.mask(height, width)[crop.y0:crop.y1, crop.x0:crop.x1]).to(x.device)
    out = fill
    if feather > 0:
        ring = torch.from_numpy(hole.grown(feather, feather, width, height).mask(height, width)
                                [crop.y0:crop.y1, crop.x0:crop.x1]).to(x.device) & ~inside
        ring_f = ring.float()[None, None]
        k = 2 * feather + 1
        diff = (patch[None] - fill) * ring_f
        # Box average of the mismatch over the ring pixels in each window.
        num = F.avg_pool2d(diff, k, stride=1, padding=feather)
        den = F.avg_pool2d(ring_f, k, stride=1, padding=feather)
        spread = torch.where(den > 0, num / den.clamp_min(1e-12), torch.zeros_like(num))
        out = fill + spread * seam_weights(hole, crop, feather, height, width).to(x.device)
    return torch.where(inside, out.clamp(0, 1), patch[None].expand_as(fill))
