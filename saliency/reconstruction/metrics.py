"""How varied the variations are, and when a variation is only a copy of the original.

All distances are RMS differences over the hole's pixels and channels, with pixels in [0, 1], so a
figure reads as "typical per-pixel difference" whatever the hole's size.

- diversity: mean over all pairs of variations of their RMS difference inside the hole.
- distance to the original: the RMS difference between a variation's hole and the hidden pixels
  it replaced (measured after the fact; the search never reads them).
- near-copy floor, NEAR_COPY_RMS = 0.02 (about 5 grey levels of 255): a variation whose hole is
  closer than this to the original is a copy, not a variation. Differences that small are what
  lossy re-encoding (JPEG at quality ~90) leaves and lie under the ~2% contrast a viewer notices,
  so such a variation shows the viewer nothing new. The benchmark measures the diversity that K
  near-copies reach (the original plus independent noise of that RMS: about 0.02 * sqrt(2)) and
  reports it beside the variations' diversity.
"""
from __future__ import annotations

import torch

NEAR_COPY_RMS = 0.02


def _flat(patches: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
    """(K, C, h, w) patches and an (h, w) hole mask -> (K, C * hole pixels), float64."""
    return patches[:, :, inside].flatten(1).double()


def diversity(patches: torch.Tensor, inside: torch.Tensor) -> float:
    """Mean pairwise RMS difference inside the hole; 0 for fewer than two variations."""
    v = _flat(patches, inside)
    k, m = v.shape
    if k < 2 or m == 0:
        return 0.0
    sq = (v * v).sum(1)
    d2 = (sq[:, None] + sq[None, :] - 2 * v @ v.T).clamp_min(0) / m
    iu = torch.triu_indices(k, k, 1)
    return float(d2[iu[0], iu[1]].sqrt().mean())


def distances_to(patches: torch.Tensor, original: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
    """RMS difference of each variation's hole from the original's, (K,)."""
    v = _flat(patches, inside)
    o = _flat(original[None], inside)
    return ((v - o) ** 2).mean(1).sqrt() if v.shape[1] else torch.zeros(v.shape[0], dtype=torch.float64)


def near_copies(original: torch.Tensor, inside: torch.Tensor, k: int, seed: int = 0,
                rms: float = NEAR_COPY_RMS) -> torch.Tensor:
    """K copies of the original patch (C, h, w) whose holes carry independent noise of RMS `rms`,
    quantised to 8 bits like a saved variation: what a method that copies the original would give."""
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn((k, *original.shape), generator=gen) * rms
    copies = original[None] + noise * inside.to(original.dtype)
    return (copies.clamp(0, 1) * 255).round() / 255
