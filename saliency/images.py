"""Decoding uploads into RGB pictures the models can take.

Every path that turns bytes into pixels goes through here, so the rules (EXIF orientation, any
mode to RGB, a bounded pixel count) hold for the CLI and the service alike.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from saliency.errors import SaliencyError

# A decompression bomb declares huge dimensions in a few bytes; refuse it before decoding.
MAX_PIXELS = 64_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
# Only still-image formats a user could reasonably send; no other decoder is reachable from bytes.
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")


class ImageError(SaliencyError, ValueError):
    """The bytes are not a picture we can explain."""

    status = 415
    code = "not_an_image"


class ImageTooLarge(ImageError):
    """More pixels than MAX_PIXELS, seen in the header before anything is decoded."""

    status = 413
    code = "image_too_large"


def open_image(source: str | Path | bytes) -> Image.Image:
    """Decode, apply EXIF orientation, return an RGB image (first frame of animations)."""
    data = Path(source).read_bytes() if isinstance(source, (str, Path)) else source
    if not data:
        raise ImageError("empty file")
    try:
        img = Image.open(io.BytesIO(data), formats=FORMATS)
        if img.width * img.height > MAX_PIXELS:
            raise ImageTooLarge(f"image has {img.width}x{img.height} pixels; the limit is {MAX_PIXELS}")
        img.seek(0)
        img.load()
        img = ImageOps.exif_transpose(img)
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"image too large: {exc}") from exc
    except UnidentifiedImageError:
        raise ImageError(f"not a readable image (not one of {', '.join(FORMATS)})") from None
    except Exception as exc:  # Pillow raises many types for bad data
        raise ImageError(f"not a readable image ({type(exc).__name__}: {exc})") from exc
    return to_rgb(img)


def to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB; transparency is flattened onto mid-grey."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        arr = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I") and arr.max() > 255 else max(arr.max(), 1.0)
        img = Image.fromarray(np.clip(arr / hi * 255.0, 0, 255).astype(np.uint8), "L")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (128, 128, 128, 255))
        img = Image.alpha_composite(background, rgba)
    return img.convert("RGB")
