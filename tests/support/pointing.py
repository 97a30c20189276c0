"""The pointing rule the library's localisation tests share, at the tiny model's 32 px."""
from __future__ import annotations

import numpy as np

# TorchRay's pointing game allows 15 px at 224 px; the same share of a 32 px image is about 2 px.
TOLERANCE = 15 / 224 * 32


def pointing_hits(maps: np.ndarray, boxes: np.ndarray, tol: float) -> np.ndarray:
    hits = []
    for m, (x0, y0, x1, y1) in zip(maps, boxes):
        y, x = np.unravel_index(m.argmax(), m.shape)
        dx, dy = max(x0 - x, 0, x - (x1 - 1)), max(y0 - y, 0, y - (y1 - 1))
        hits.append(np.hypot(dx, dy) <= tol)
    return np.array(hits)
