"""Pictures and arrays a job stores: the map as a gzipped .npy, the heatmap, the overlay."""
from __future__ import annotations

import gzip
import io

import numpy as np
from PIL import Image

from saliency.render import heatmap, overlay


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def render(image: Image.Image, saliency: np.ndarray) -> dict[str, bytes]:
    """The three artifacts of an explanation, by their names in jobs.store.ARTIFACTS."""
    buf = io.BytesIO()
    np.save(buf, saliency.astype(np.float32, copy=False))
    return {
        "saliency.npy": gzip.compress(buf.getvalue(), compresslevel=6),
        "saliency.png": png(heatmap(saliency)),
        "overlay.png": png(overlay(image, saliency)),
    }


def load_map(packed: bytes) -> np.ndarray:
    return np.load(io.BytesIO(gzip.decompress(packed)))
