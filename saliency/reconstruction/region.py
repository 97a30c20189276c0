"""From a saliency map to the salient box, and from that box to the hole the generator fills.

Salient region: the pixels at or above `threshold` x the map's maximum that are connected
(8-neighbourhood) to the map's maximum; its bounding box is the salient box. Taking the peak's
component rather than every pixel above the threshold keeps a second, weaker blob (a distractor)
from stretching the box over half the image.

Hole: the centred sub-box of the salient box whose area is `fraction` of the box's (each side
scaled by sqrt(fraction)). Centred because the evidence is densest at the box's centre, and because
a centred hole keeps known context on all four sides for the weighted context loss; a hole flush
with one side of the box would be in-filled from pixels outside the salient region on that side.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Box:
    """Pixel box, x1 and y1 exclusive."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def area(self) -> int:
        return self.width * self.height

    def as_list(self) -> list[int]:
        return [self.x0, self.y0, self.x1, self.y1]

    def scaled(self, sx: float, sy: float, width: int, height: int) -> "Box":
        """This box in an image resized by (sx, sy), rounded outwards so it covers the original."""
        return Box(max(0, math.floor(self.x0 * sx)), max(0, math.floor(self.y0 * sy)),
                   min(width, math.ceil(self.x1 * sx)), min(height, math.ceil(self.y1 * sy)))

    def grown(self, margin_x: int, margin_y: int, width: int, height: int) -> "Box":
        return Box(max(0, self.x0 - margin_x), max(0, self.y0 - margin_y),
                   min(width, self.x1 + margin_x), min(height, self.y1 + margin_y))

    def mask(self, height: int, width: int) -> np.ndarray:
        out = np.zeros((height, width), dtype=bool)
        out[self.y0:self.y1, self.x0:self.x1] = True
        return out


def salient_box(saliency: np.ndarray, threshold: float = 0.5) -> Box:
    """Bounding box of the peak's connected region of pixels >= threshold * max (see module doc)."""
    s = np.nan_to_num(np.asarray(saliency, dtype=np.float32))
    if s.ndim != 2:
        raise ValueError(f"saliency must be (height, width), not {s.shape}")
    peak = np.unravel_index(int(np.argmax(s)), s.shape)
    top = float(s[peak])
    above = torch.from_numpy(s >= threshold * top if top > 0 else np.ones_like(s, dtype=bool))
    region = torch.zeros_like(above)
    region[peak] = True
    # Flood fill by repeated 3x3 dilation inside `above`; the area stops growing when it is done.
    above_f, region_f = above[None, None].float(), region[None, None].float()
    count = 1.0
    while True:
        region_f = F.max_pool2d(region_f, 3, stride=1, padding=1) * above_f
        new = float(region_f.sum())
        if new == count:
            break
        count = new
    ys, xs = np.nonzero(region_f[0, 0].numpy())
    return Box(int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


def hole_box(box: Box, fraction: float) -> Box:
    """The centred sub-box covering `fraction` of `box`'s area (each side at least 1 px)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], not {fraction}")
    scale = math.sqrt(fraction)
    w = min(box.width, max(1, round(box.width * scale)))
    h = min(box.height, max(1, round(box.height * scale)))
    x0 = box.x0 + (box.width - w) // 2
    y0 = box.y0 + (box.height - h) // 2
    return Box(x0, y0, x0 + w, y0 + h)
