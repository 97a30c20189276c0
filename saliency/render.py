"""Pictures of saliency maps: a colour heatmap and an overlay on the explained image."""
from __future__ import annotations

import numpy as np
from PIL import Image

# Anchor colours of a perceptually ordered dark-blue -> yellow-white ramp; values between are
# interpolated linearly, which is enough for a readable map without pulling in matplotlib.
_ANCHORS = np.array(
    [
        [0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99],
        [212, 72, 66], [245, 125, 21], [250, 193, 39], [252, 255, 164],
    ],
    dtype=np.float64,
)


def _lut() -> np.ndarray:
    x = np.linspace(0, len(_ANCHORS) - 1, 256)
    lo = np.floor(x).astype(int).clip(0, len(_ANCHORS) - 2)
    t = (x - lo)[:, None]
    return ((1 - t) * _ANCHORS[lo] + t * _ANCHORS[lo + 1]).round().astype(np.uint8)


LUT = _lut()


def heatmap(saliency: np.ndarray) -> Image.Image:
    """Map a saliency array (any range) to an RGB heatmap of the same height and width."""
    s = np.nan_to_num(np.asarray(saliency, dtype=np.float64))
    lo, hi = float(s.min()), float(s.max())
    norm = (s - lo) / (hi - lo) if hi > lo else np.zeros_like(s)
    return Image.fromarray(LUT[(norm * 255).round().astype(np.uint8)], "RGB")


def overlay(image: Image.Image, saliency: np.ndarray, alpha: float = 0.5) -> Image.Image:
    """Blend the heatmap over the image; the map must already be at the image's resolution."""
    heat = heatmap(saliency)
    if heat.size != image.size:
        raise ValueError(f"map is {heat.size}, image is {image.size}")
    return Image.blend(image.convert("RGB"), heat, alpha)
