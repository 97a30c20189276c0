"""Localisation error (Fong & Vedaldi 2017): a box from the map, compared with the object's boxes.

Energy threshold: keep the smallest set of the most salient pixels holding a fraction `alpha` of
the map's non-negative mass and take the bounding box of all kept pixels. The localisation is an
error when that box's IoU with every ground-truth box is below 0.5.

Fong & Vedaldi tune alpha per method on held-out images; we default to alpha = 0.5 (the box of the
pixels holding half of the mass), a value that needs no tuning set, and make it configurable.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from saliency.metrics.regions import Box, as_boxes, iou

ALPHA = 0.5
IOU_THRESHOLD = 0.5


class Localisation(NamedTuple):
    error: bool
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)
    iou: float  # best IoU over the ground-truth boxes


def energy_box(saliency: np.ndarray, alpha: float = ALPHA) -> tuple[int, int, int, int]:
    """Bounding box of the fewest top pixels holding `alpha` of the mass; the whole image if none."""
    if not 0 < alpha <= 1:
        raise ValueError("alpha must be in (0, 1]")
    h, w = saliency.shape
    mass = np.clip(saliency.astype(np.float64), 0, None).ravel()
    total = mass.sum()
    if total <= 0:
        return (0, 0, w, h)
    order = np.argsort(-mass, kind="stable")
    cum = np.cumsum(mass[order])
    keep = order[: int(np.searchsorted(cum, alpha * total * (1 - 1e-12))) + 1]
    ys, xs = np.divmod(keep, w)
    return (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


def localisation_error(saliency: np.ndarray, boxes: np.ndarray | list[Box], alpha: float = ALPHA,
                       threshold: float = IOU_THRESHOLD) -> Localisation:
    box = energy_box(saliency, alpha)
    best = max((iou(box, gt) for gt in as_boxes(boxes)), default=0.0)
    return Localisation(best < threshold, box, best)
