"""Pictures of a reconstruction: a grid of the variations around the salient box.

Tile 0 is the original with the hole greyed out (what was hidden); then one tile per variation,
framed green when the model's top-1 class held and red when it changed. Tiles show the `view`
region (the salient box in its context) scaled to `tile` px on the longer side, nearest-neighbour
when enlarging so that small images stay crisp.
"""
from __future__ import annotations

import math

from PIL import Image

from saliency.reconstruction.reconstruct import Reconstruction

HELD = (40, 170, 60)
CHANGED = (210, 40, 40)
HIDDEN = (128, 128, 128)
FRAME = 2


def _tile(img: Image.Image, size: tuple[int, int], colour: tuple[int, int, int]) -> Image.Image:
    resample = Image.NEAREST if size[0] >= img.width else Image.BILINEAR
    inner = img.resize(size, resample)
    out = Image.new("RGB", (size[0] + 2 * FRAME, size[1] + 2 * FRAME), colour)
    out.paste(inner, (FRAME, FRAME))
    return out


def hidden_view(rec: Reconstruction) -> Image.Image:
    """The view region of the original with the hole painted grey."""
    pixels = rec.image.copy()
    h = rec.hole
    pixels[h.y0:h.y1, h.x0:h.x1] = HIDDEN
    v = rec.view
    return Image.fromarray(pixels[v.y0:v.y1, v.x0:v.x1])


def grid(rec: Reconstruction, tile: int = 96, columns: int = 8) -> Image.Image:
    v = rec.view
    scale = tile / max(v.width, v.height)
    size = (max(1, round(v.width * scale)), max(1, round(v.height * scale)))
    tiles = [_tile(hidden_view(rec), size, (255, 255, 255))]
    for var in rec.variations:
        tiles.append(_tile(rec.variation_image(var.index, v), size, HELD if var.held else CHANGED))
    cols = min(columns, len(tiles))
    rows = math.ceil(len(tiles) / cols)
    tw, th = tiles[0].size
    out = Image.new("RGB", (cols * (tw + 2), rows * (th + 2)), (255, 255, 255))
    for i, t in enumerate(tiles):
        out.paste(t, ((i % cols) * (tw + 2), (i // cols) * (th + 2)))
    return out

