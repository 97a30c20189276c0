"""Holes to train an in-painter on: shaped like the ones the service hides, plus random boxes.

The service hides the centred share `hidden` of the salient box (region.hole_box). When the data
knows where its objects are (planted images), a training hole is the centred share f ~ U(0.1, 0.95)
of the object's box, the box first jittered (scaled by U(0.8, 1.5), its centre moved by up to 2 px
at 32 px) because a saliency map's box is not the object's box. Otherwise, or with probability
`random_share`, it is a random box (each side U(0.1, 0.5) of the image) anywhere: a folder of
photos has no boxes, and random holes teach the generator backgrounds as well as objects.
"""
from __future__ import annotations

import torch

from saliency.reconstruction.region import Box, hole_box


def _u(gen: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=gen))


def sample_hole(size: int, gen: torch.Generator, box: Box | None = None, random_share: float = 0.3) -> Box:
    """One hole in a size x size image; `box` is the object's box when the data knows it."""
    if box is not None and box.area > 0 and float(torch.rand((), generator=gen)) >= random_share:
        scale, shift = _u(gen, 0.8, 1.5), 2 * size / 32
        cx = (box.x0 + box.x1) / 2 + _u(gen, -shift, shift)
        cy = (box.y0 + box.y1) / 2 + _u(gen, -shift, shift)
        hw, hh = max(1.0, box.width * scale / 2), max(1.0, box.height * scale / 2)
        jittered = Box(max(0, round(cx - hw)), max(0, round(cy - hh)),
                       min(size, round(cx + hw)), min(size, round(cy + hh)))
        if jittered.width > 0 and jittered.height > 0:
            return hole_box(jittered, _u(gen, 0.1, 0.95))
    w = max(1, round(_u(gen, 0.1, 0.5) * size))
    h = max(1, round(_u(gen, 0.1, 0.5) * size))
    x0 = int(torch.randint(0, size - w + 1, (), generator=gen))
    y0 = int(torch.randint(0, size - h + 1, (), generator=gen))
    return Box(x0, y0, x0 + w, y0 + h)


def known_masks(n: int, size: int, gen: torch.Generator, boxes: torch.Tensor | None = None,
                random_share: float = 0.3) -> torch.Tensor:
    """(n, 1, size, size) float masks, 1 on known pixels; `boxes` (n, 4) x0, y0, x1, y1 or zeros."""
    out = torch.ones(n, 1, size, size)
    for i in range(n):
        box = Box(*(int(v) for v in boxes[i])) if boxes is not None else None
        hole = sample_hole(size, gen, box, random_share)
        out[i, :, hole.y0:hole.y1, hole.x0:hole.x1] = 0
    return out
