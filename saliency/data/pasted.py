"""Real objects on real backgrounds with their box known by construction: the boxed object of
each of scikit-image's photos (saliency.data.photos), cut out and pasted onto other photos.

The planted set is a toy and the six photos are too few to choose defaults on (each one moves
pointing by 0.17). Pasting gives many real-photo cases whose ground truth is exact: the pasted
rectangle. The crop keeps a little of its own background, as a hand-drawn box would. Backgrounds
are textures and scenes that hold none of the objects. Every composite is 448 x 448; the object's
longer side is 30 to 50% of it, placed at random; both come from a seed derived from the case's
name, so a case is the same image on every machine.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image

from saliency.data.photos import PHOTOS, Photo

SIDE = 448
SCALES = (0.3, 0.5)  # the object's longer side, as a share of SIDE
BACKGROUNDS = ("brick", "grass", "gravel", "moon", "hubble_deep_field", "coins")
OBJECTS = ("coffee", "chelsea", "stereo_motorcycle", "rocket", "camera")  # photos whose box is the object


@dataclass(frozen=True)
class Pasted:
    obj: str  # a photo of saliency.data.photos whose (first) box is cut out
    background: str  # a skimage.data function

    @property
    def name(self) -> str:
        return f"{self.obj}-on-{self.background}"

    @property
    def photo(self) -> Photo:
        return next(p for p in PHOTOS if p.name == self.obj)

    @property
    def target(self) -> str:
        return self.photo.target

    def placement(self) -> tuple[int, int, int, int]:
        """Where the object goes: (x0, y0, x1, y1), x1/y1 exclusive, in the composite."""
        rng = np.random.default_rng(zlib.crc32(self.name.encode()))
        x0, y0, x1, y1 = self.photo.boxes[0]
        longer = round(SIDE * rng.uniform(*SCALES))
        w, h = (longer, round(longer * (y1 - y0) / (x1 - x0))) if x1 - x0 >= y1 - y0 else \
            (round(longer * (x1 - x0) / (y1 - y0)), longer)
        w, h = max(w, 8), max(h, 8)
        left, top = int(rng.integers(0, SIDE - w + 1)), int(rng.integers(0, SIDE - h + 1))
        return left, top, left + w, top + h

    def load(self) -> Image.Image:
        x0, y0, x1, y1 = self.placement()
        crop = _photo(self.obj).crop(self.photo.boxes[0]).resize((x1 - x0, y1 - y0), Image.Resampling.LANCZOS)
        scene = _background(self.background).copy()
        scene.paste(crop, (x0, y0))
        return scene


@cache
def _photo(name: str) -> Image.Image:
    return next(p for p in PHOTOS if p.name == name).load()


@cache
def _background(name: str) -> Image.Image:
    """The photo as a SIDE x SIDE RGB square: scaled so its shorter side is SIDE, centre cropped."""
    from skimage import data  # optional dependency: the `bench` and `test` extras

    img = Image.fromarray(np.asarray(getattr(data, name)())).convert("RGB")
    scale = SIDE / min(img.size)
    img = img.resize((max(SIDE, round(img.width * scale)), max(SIDE, round(img.height * scale))),
                     Image.Resampling.LANCZOS)
    left, top = (img.width - SIDE) // 2, (img.height - SIDE) // 2
    return img.crop((left, top, left + SIDE, top + SIDE))


PASTED: tuple[Pasted, ...] = tuple(Pasted(o, b) for o in OBJECTS for b in BACKGROUNDS)
