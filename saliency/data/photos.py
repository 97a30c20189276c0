"""Real photos shipped with scikit-image, with object boxes drawn by hand for the benchmark.

Boxes are (x0, y0, x1, y1), x1/y1 exclusive, in the photo's own pixels; they were read off the
photos on a 50 px grid, so they are good to a few pixels. Each photo names the ImageNet class to
explain (a label of efficientnet_lite0, the offline default model) and the object it names.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Photo:
    name: str  # the skimage.data function
    target: str  # ImageNet label to explain
    boxes: tuple[tuple[int, int, int, int], ...]
    note: str
    distractor: str = ""  # what else in the photo could draw the map

    def load(self) -> Image.Image:
        from skimage import data  # optional dependency: the `bench` and `test` extras

        pixels = getattr(data, self.name)()
        if isinstance(pixels, tuple):  # stereo pairs: the left view
            pixels = pixels[0]
        return Image.fromarray(np.asarray(pixels)).convert("RGB")


PHOTOS: tuple[Photo, ...] = (
    Photo("chelsea", "Egyptian cat", ((0, 0, 395, 300),),
          "the cat's head fills the frame; top-1 (p 0.54)"),
    Photo("coffee", "espresso", ((170, 15, 410, 300),),
          "the cup, not the saucer or the spoon; top-1 (p 0.90)"),
    Photo("astronaut", "space shuttle", ((352, 0, 458, 280),),
          "a small model shuttle beside the astronaut (the distractor; the model's top-1 is "
          "'jersey'); the model gives the shuttle p 0.001, rank 130: a hard case", "the astronaut"),
    Photo("rocket", "missile", ((298, 125, 342, 410),),
          "a thin rocket between launch towers; top-1 (p 0.43, 'projectile' 0.42)", "the towers"),
    Photo("stereo_motorcycle", "moped", ((92, 95, 685, 450),),
          "the motorcycle in a cluttered garage (left view); top-1 (p 0.30)"),
    Photo("camera", "tripod", ((228, 190, 410, 512),),
          "the tripod under the camera, beside the cameraman; top-1 (p 0.96); greyscale", "the cameraman"),
)
