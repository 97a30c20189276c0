"""Decoding: odd but valid pictures are handled, bad bytes are refused with a clear message."""
import io

import numpy as np
import pytest
from PIL import Image

from saliency.images import MAX_PIXELS, ImageError, open_image


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def test_exif_orientation_is_applied():
    img = Image.new("RGB", (40, 20), "red")
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    out = open_image(encode(img, "JPEG", exif=exif))
    assert out.size == (20, 40)


@pytest.mark.parametrize("make", [
    lambda: encode(Image.new("CMYK", (9, 7), (0, 255, 0, 0)), "JPEG"),
    lambda: encode(Image.fromarray(np.full((7, 9), 40000, dtype=np.uint16)), "PNG"),
    lambda: encode(Image.new("L", (9, 7), 128), "PNG"),
    lambda: encode(Image.new("P", (9, 7), 3), "PNG", transparency=3),
    lambda: encode(Image.new("RGBA", (9, 7), (255, 0, 0, 0)), "PNG"),
])
def test_any_mode_becomes_rgb(make):
    out = open_image(make())
    assert out.mode == "RGB" and out.size == (9, 7)


def test_sixteen_bit_keeps_its_brightness():
    data = encode(Image.fromarray(np.full((4, 4), 65535 // 2, dtype=np.uint16)), "PNG")
    assert abs(np.asarray(open_image(data)).mean() - 127) < 2


def test_animated_gif_gives_the_first_frame():
    frames = [Image.new("P", (8, 8), i) for i in range(3)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert open_image(data).size == (8, 8)


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"%PDF-1.4 not a picture", "not a readable image"),
])
def test_bad_bytes_are_refused(data, message):
    with pytest.raises(ImageError, match=message):
        open_image(data)


def test_truncated_jpeg_is_refused():
    data = encode(Image.new("RGB", (64, 64), "blue"), "JPEG")
    with pytest.raises(ImageError):
        open_image(data[: len(data) // 2])


def test_decompression_bomb_is_refused_before_decoding():
    side = int(MAX_PIXELS ** 0.5) + 100
    # a PNG header declaring side x side pixels, with almost no data behind it
    data = encode(Image.new("1", (side, side)), "PNG")
    assert len(data) < 2_000_000
    with pytest.raises(ImageError, match="limit|too large"):
        open_image(data)
