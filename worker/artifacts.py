"""Pictures and arrays a job stores: the map as a gzipped .npy, the heatmap, the overlay, and for
sampling methods the per-pixel uncertainty as a gzipped .npy and a heatmap."""
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


def npy_gz(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array.astype(np.float32, copy=False))
    return gzip.compress(buf.getvalue(), compresslevel=6)


def render(image: Image.Image, saliency: np.ndarray, uncertainty: np.ndarray | None = None) -> dict[str, bytes]:
    """The artifacts of an explanation, by their names in jobs.store.ARTIFACTS: three, and two more
    (uncertainty.npy, uncertainty.png) when the method measured its uncertainty. The uncertainty
    heatmap is scaled to its own range: where the map is least sure; the .npy holds the values."""
    out = {
        "saliency.npy": npy_gz(saliency),
        "saliency.png": png(heatmap(saliency)),
        "overlay.png": png(overlay(image, saliency)),
    }
    if uncertainty is not None:
        out["uncertainty.npy"] = npy_gz(uncertainty)
        out["uncertainty.png"] = png(heatmap(uncertainty))
    return out


def load_map(packed: bytes) -> np.ndarray:
    return np.load(io.BytesIO(gzip.decompress(packed)))
