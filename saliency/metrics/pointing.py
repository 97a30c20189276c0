"""Pointing game (TorchRay) and energy pointing game: is the map's peak, or its mass, on the object?

TorchRay (benchmark/pointing_game.py) makes an acceptance disc of the pixels whose squared
distance to the point is strictly below tolerance**2 and counts a hit when that disc meets a
ground-truth pixel. Distances are between integer pixel coordinates; we do the same, so a hit is:
some ground-truth pixel lies at Euclidean distance < tolerance (15 px by default) from the argmax.
The ground truth is not dilated otherwise. Ties of the maximum go to the first pixel in row-major
order (numpy's argmax).
"""
from __future__ import annotations

import numpy as np

from saliency.metrics.regions import Box, ground_truth_mask

TOLERANCE = 15  # pixels, at the image's resolution (TorchRay's default)


def peak(saliency: np.ndarray) -> tuple[int, int]:
    """(x, y) of the map's maximum."""
    y, x = np.unravel_index(int(np.argmax(saliency)), saliency.shape)
    return int(x), int(y)


def point_hits(point: tuple[float, float], gt: np.ndarray | list[Box], shape: tuple[int, int],
               tolerance: float = TOLERANCE) -> bool:
    """A point (x, y) hits when a ground-truth pixel is strictly within `tolerance` of it."""
    ys, xs = np.nonzero(ground_truth_mask(gt, shape))
    if ys.size == 0:
        return False
    d2 = (xs - point[0]) ** 2 + (ys - point[1]) ** 2
    return bool(d2.min() < tolerance**2)


def pointing_game(saliency: np.ndarray, gt: np.ndarray | list[Box], tolerance: float = TOLERANCE) -> bool:
    """Hit or miss of the map's peak; accuracy over a set is hits / cases."""
    return point_hits(peak(saliency), gt, saliency.shape, tolerance)


def energy_pointing_game(saliency: np.ndarray, gt: np.ndarray | list[Box]) -> float:
    """Share of the map's non-negative mass inside the ground truth; 0 for a map with no mass."""
    mass = np.clip(saliency.astype(np.float64), 0, None)
    total = mass.sum()
    if total <= 0:
        return 0.0
    return float(mass[ground_truth_mask(gt, saliency.shape)].sum() / total)
