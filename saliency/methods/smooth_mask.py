"""Smooth masks from a coarse parameter grid by smooth max-convolution (Fong et al. 2019, sec. 3.3).

A parameter m̄_v in [0, 1] sits at the centre of every `step` x `step` cell. The mask at pixel u is
the maximum over nearby parameters of k(u - v) m̄_v, with the Gaussian kernel
k(d) = exp(-|d|^2 / sigma^2). Max-pooling (rather than summing) keeps the mask in [0, 1] and lets a
single parameter switch a whole blob of radius ~sigma fully on, so masks are smooth yet reach 1.

The Gaussian factorises, k(d) = k(dy) k(dx), and a maximum of products of non-negative factors can
be taken one axis at a time, so the 2-D max-convolution is two 1-D ones: 2 x 13 terms per pixel
instead of 169 at the default sigma = 3 x step. The max is smoothed, sum_v a_v softmax(a / T)_v
with temperature T = 1/20, so every nearby parameter gets a gradient; per axis, this is the paper's
smooth max applied separably. Parameters beyond the border repeat the border's: with zeros there,
border pixels would have fewer competitors in the smooth max, come out slightly higher for the same
parameters, and win the area ranking at the start, leaving masks stuck in the image corners.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

TEMPERATURE = 1 / 20


def smooth_max(a: torch.Tensor, dim: int) -> torch.Tensor:
    return (a * torch.softmax(a / TEMPERATURE, dim=dim)).sum(dim)


class SmoothMask:
    def __init__(self, size: tuple[int, int], step: int, sigma: float, device: torch.device) -> None:
        self.size, self.step = size, step
        self.grid = (math.ceil(size[0] / step), math.ceil(size[1] / step))
        # Neighbours farther than 2 sigma have k < 0.02: they cannot win the max. Nor can padding
        # cells farther than the grid is long: they repeat a nearer border cell's value.
        self.radius = min(math.ceil(2 * sigma / step), max(self.grid))
        self.rows, self.ky = self._axis(size[0], sigma, device)
        self.cols, self.kx = self._axis(size[1], sigma, device)

    def _axis(self, n: int, sigma: float, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """For each pixel along an axis: the padded indices of its 2r+1 nearest cells, and k(d)."""
        pix = torch.arange(n, device=device)
        offsets = torch.arange(-self.radius, self.radius + 1, device=device)
        cells = torch.div(pix, self.step, rounding_mode="floor")[:, None] + offsets  # (n, 2r+1)
        d = pix[:, None] - (cells * self.step + (self.step - 1) / 2)
        return cells + self.radius, torch.exp(-(d.float() / sigma) ** 2)

    def __call__(self, params: torch.Tensor) -> torch.Tensor:
        """(B, gh, gw) parameters -> (B, H, W) mask in [0, 1]."""
        r = self.radius
        padded = F.pad(params, (r, r, r, r), mode="replicate")  # see the module docstring
        along_x = smooth_max(padded[:, :, self.cols] * self.kx, dim=-1)  # (B, gh+2r, W)
        along_y = along_x[:, self.rows] * self.ky[..., None]  # (B, H, 2r+1, W)
        return smooth_max(along_y, dim=2)
