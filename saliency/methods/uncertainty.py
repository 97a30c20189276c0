"""How sure a sampled map is: independent groups of chains (OISE) or masks (RISE) give replicas.

A sampling method sums masked-input scores; its map is a normalised sum S. Split the queries
into G groups that are independent given the image (OISE: whole chains, RISE: masks) and keep a
sum S_g per group. Each group then estimates the map on its own, and how much the groups disagree
says how much of the map is sampling noise. Two outputs:

* `stability` (one number per image), the split-half reliability of the normalised map:
  the G groups are split into two halves, each half's map is normalised as the full map is (the
  method's own post-processing), and the two maps are correlated pixel by pixel (Pearson). The
  correlation r is that of two maps from half the budget; the Spearman-Brown correction
  2r / (1 + r) turns it into the expected correlation between this map and an independent map
  of the same budget (another seed). The number is averaged over many splits (all 35 balanced
  splits of 8 groups), which removes the luck of one split, and is clamped at 0.

  Why this measure: it is scale-free (maps of any method, image or model compare), needs no
  reference map, costs no query, reads like the test-retest reliability users know (1: another
  run would draw the same map; 0.5: half of the map's pixel variance is noise), and is computed
  on the map the user sees, after post-processing, so noise in pixels the post-processing clamps
  to zero does not count against it. The alternative, the standard error relative to the map's
  range, depends on the post-processing offset and says nothing about whether the ranking of
  regions (what deletion, insertion and pointing read) is stable. The correction assumes the
  noise of a half is twice that of the whole (independent groups; exact for sums); whether the
  number predicts the agreement with a 16000-query reference map is what `saliency bench
  adaptive` measures (docs/benchmarks.md, "Stability and adaptive stopping").

* `standard_error` (a map), the per-pixel standard error of the sum: each group's sum scaled to
  the full budget is one estimate of S, and the spread of the G estimates over sqrt(G) is the
  standard error of their mean, S. Divided by the map's own normalisation, it is in the map's
  units (for OISE's default post-processing: a share of the map's peak), before clamping.

Groups with no query yet (a run shorter than G chains) are left out; with fewer than two
non-empty groups nothing can be said and the stability is NaN.
"""
from __future__ import annotations

import itertools
import math
import random
from typing import Callable

import torch

MAX_SPLITS = 35  # all balanced splits of 8 groups; more groups draw this many at random (fixed seed)


def one_hot(groups: torch.Tensor, g: int, weights: torch.Tensor | None = None) -> torch.Tensor:
    """(g, n): row j holds the weight of each of the n items that belong to group j (1 if None)."""
    hot = (groups[None, :] == torch.arange(g, device=groups.device)[:, None]).float()
    return hot if weights is None else hot * weights[None, :].float()


def splits(g: int) -> list[tuple[int, ...]]:
    """Halves (the groups of one side) of `g` groups: every balanced split once (the side holding
    group 0), or MAX_SPLITS of them drawn with a fixed seed when there are more."""
    half = g // 2
    count = math.comb(g, half) // (2 if g % 2 == 0 else 1)
    if count <= MAX_SPLITS:
        return [c for c in itertools.combinations(range(g), half) if g % 2 or 0 in c]
    rng, seen = random.Random(0), set()
    while len(seen) < MAX_SPLITS:
        side = tuple(sorted(rng.sample(range(g), half)))
        seen.add(side if 0 in side or g % 2 else tuple(sorted(set(range(g)) - set(side))))
    return sorted(seen)


def _pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B, ...) x (B, ...) -> (B,) correlation over the pixels of each image; 0 where one is flat."""
    a = a.flatten(1).double()
    b = b.flatten(1).double()
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    va, vb = (a * a).sum(1), (b * b).sum(1)
    ok = (va > 0) & (vb > 0)
    return torch.where(ok, (a * b).sum(1) / torch.sqrt(torch.where(ok, va * vb, torch.ones_like(va))),
                       torch.zeros_like(va))


def _filled(sums: torch.Tensor, counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    keep = counts > 0
    return sums[:, keep], counts[keep]


def stability(sums: torch.Tensor, counts: torch.Tensor,
              normalise: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """(B,) split-half reliability (Spearman-Brown corrected, clamped at 0) of normalise(sum).

    sums: (B, G, H, W) per-group sums; counts: (G,) queries per group (per image);
    normalise: (B, H, W) sum -> (B, H, W) map as shown to users."""
    sums, counts = _filled(sums, counts)
    g = sums.shape[1]
    if g < 2:
        return torch.full((sums.shape[0],), float("nan"), dtype=torch.float64, device=sums.device)
    rs = []
    for side in splits(g):
        pick = torch.zeros(g, dtype=torch.bool, device=sums.device)
        pick[list(side)] = True
        rs.append(_pearson(normalise(sums[:, pick].sum(1)), normalise(sums[:, ~pick].sum(1))))
    r = torch.stack(rs).mean(0)
    return torch.where(r > 0, 2 * r / (1 + r), torch.zeros_like(r))


def reached(sums: torch.Tensor, counts: torch.Tensor, normalise: Callable[[torch.Tensor], torch.Tensor],
            target: float, progress: Callable[[float], None] | None) -> torch.Tensor | None:
    """The adaptive rule's check after a round: the (B,) stabilities when every image reached
    `target` (progress then jumps to 1), else None: keep sampling."""
    stab = stability(sums, counts, normalise)
    if not bool((stab >= target).all()):
        return None
    if progress is not None:
        progress(1.0)
    return stab


def standard_error(sums: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """(B, H, W) standard error of the total sum, from the spread of the groups' estimates of it."""
    sums, counts = _filled(sums, counts)
    b, g = sums.shape[:2]
    if g < 2:
        return torch.full((b, *sums.shape[2:]), float("nan"), device=sums.device)
    estimates = sums * (counts.sum() / counts).view(1, g, 1, 1).to(sums.dtype)
    return estimates.std(dim=1, unbiased=True) / math.sqrt(g)
