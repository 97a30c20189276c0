"""Planted-object images: one object of a known class at a random place, sometimes a distractor.

The object's box and mask are known exactly, so a saliency map can be scored without annotators.
Everything derives from the seed: the same seed gives the same images.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# "empty" images hold no object, so a model learns that hiding the object removes its class.
CLASSES = ("square", "cross", "ring", "empty")
OBJECTS = 3
# One hue per class, jittered per image; the distractor never uses them.
_COLOURS = np.array([[0.9, 0.15, 0.1], [0.1, 0.8, 0.2], [0.15, 0.3, 0.95]])
_DISTRACTOR = np.array([[0.95, 0.9, 0.2], [0.9, 0.2, 0.9], [0.95, 0.95, 0.95]])


@dataclass
class Planted:
    images: np.ndarray  # (N, 3, H, W) float32 in [0, 1]
    labels: np.ndarray  # (N,) int64
    boxes: np.ndarray  # (N, 4) int: x0, y0, x1, y1 (exclusive) of the object; zeros when empty
    masks: np.ndarray  # (N, H, W) bool: the object's pixels
    has_distractor: np.ndarray  # (N,) bool


def _shape(kind: str, r: int) -> np.ndarray:
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    if kind == "square":
        return np.ones_like(yy, dtype=bool)
    if kind == "cross":
        arm = max(1, r // 3)
        return (np.abs(yy) <= arm) | (np.abs(xx) <= arm)
    if kind == "ring":
        d = np.sqrt(yy**2 + xx**2)
        return (d <= r + 0.5) & (d >= r - max(1.5, r / 2.5))
    # distractor: a filled disc, not one of the classes
    return np.sqrt(yy**2 + xx**2) <= r + 0.5


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    base = rng.uniform(0.3, 0.6, size=(3, 1, 1))
    coarse = rng.normal(0, 0.08, size=(3, 4, 4))
    ramp = np.kron(coarse, np.ones((size // 4 + 1, size // 4 + 1)))[:, :size, :size]
    return base + ramp + rng.normal(0, 0.04, size=(3, size, size))


def make_planted(n: int, size: int = 32, seed: int = 0, distractor_rate: float = 0.3,
                 empty_rate: float = 0.0) -> Planted:
    rng = np.random.default_rng(seed)
    images = np.empty((n, 3, size, size), dtype=np.float32)
    labels = np.where(rng.random(n) < empty_rate, OBJECTS, rng.integers(0, OBJECTS, size=n))
    boxes = np.empty((n, 4), dtype=np.int64)
    masks = np.zeros((n, size, size), dtype=bool)
    has_distractor = rng.random(n) < distractor_rate
    for i in range(n):
        img = _background(rng, size)
        r = int(rng.integers(max(2, size // 10), max(3, size // 6) + 1))
        y, x = (int(v) for v in rng.integers(r, size - r, size=2))
        if has_distractor[i]:
            # keep the distractor clear of the object so ground truth stays unambiguous
            for _ in range(20):
                dy, dx = (int(v) for v in rng.integers(r, size - r, size=2))
                if max(abs(dy - y), abs(dx - x)) > 2 * r + 1:
                    _paint(img, _shape("disc", r), dy, dx, _DISTRACTOR[rng.integers(3)])
                    break
        if labels[i] == OBJECTS:
            boxes[i] = 0
            images[i] = np.clip(img, 0, 1)
            continue
        shape = _shape(CLASSES[labels[i]], r)
        colour = np.clip(_COLOURS[labels[i]] + rng.normal(0, 0.05, 3), 0, 1)
        _paint(img, shape, y, x, colour)
        masks[i, y - r:y + r + 1, x - r:x + r + 1] = shape
        boxes[i] = (x - r, y - r, x + r + 1, y + r + 1)
        images[i] = np.clip(img, 0, 1)
    return Planted(images, labels.astype(np.int64), boxes, masks, has_distractor)


def _paint(img: np.ndarray, shape: np.ndarray, y: int, x: int, colour: np.ndarray) -> None:
    r = shape.shape[0] // 2
    region = img[:, y - r:y + r + 1, x - r:x + r + 1]
    region[:, shape] = colour[:, None]
