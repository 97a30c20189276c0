"""Bad and odd input over HTTP: a clear status and message, nothing stored in Redis, the service
unharmed; odd but valid pictures are explained at their displayed size."""
from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

import httpx
import numpy as np
import pytest
from PIL import Image
from rq import Queue

from saliency.images import MAX_PIXELS
from tests.support.stack import FAST, QUEUE, Service, submit, submit_ok, wait_status, wait_until


def encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels and has no pixel data at all: decoding it would
    fail as truncated, so a refusal that names the pixel limit was made from the header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def redis_snapshot(service: Service) -> tuple[set[bytes], int]:
    """Every key in Redis and the queue's length, once the worker is idle (so that an earlier
    test's job finishing now cannot add keys)."""
    queue = Queue(QUEUE, connection=service.redis)
    wait_until(lambda: len(queue) == 0 and not queue.started_job_registry.get_job_ids(cleanup=False),
               60, "the queue to drain before a snapshot", interval=0.1)
    return set(service.redis.keys("*")), service.redis.llen(f"rq:queue:{QUEUE}")


def nothing_stored(service: Service, before: tuple[set[bytes], int]) -> bool:
    """No key added and the queue unchanged (keys of earlier tests may expire meanwhile)."""
    keys, length = redis_snapshot(service)
    return not keys - before[0] and length == before[1]


def post_image(client: httpx.Client, data: bytes, name: str = "x.png", **fields: str) -> httpx.Response:
    return client.post("/explain", files={"image": (name, data, "application/octet-stream")},
                       data={"model": "tiny", **fields})


def _truncated_jpeg() -> bytes:
    rng = np.random.default_rng(0)
    data = encode(Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)), "JPEG")
    return data[: len(data) // 2]


REFUSED: dict[str, tuple[Callable[[], bytes], int, str, str]] = {
    # name: (payload, status, code, words the message must contain)
    "text": (lambda: b"hello, this is not a picture", 415, "not_an_image", "not a readable image"),
    "empty": (lambda: b"", 415, "not_an_image", "empty"),
    "truncated jpeg": (_truncated_jpeg, 415, "not_an_image", "not a readable image"),
    # Pillow decodes PPM, but only the listed still-image formats are ever handed to a decoder.
    "ppm": (lambda: encode(Image.new("RGB", (8, 8)), "PPM"), 415, "not_an_image", "JPEG, PNG"),
    "bomb": (lambda: png_header_only(100_000, 100_000), 413, "image_too_large", "limit"),
    "just over the pixel limit": (lambda: png_header_only(MAX_PIXELS // 1000 + 1, 1000), 413,
                                  "image_too_large", str(MAX_PIXELS)),
}


@pytest.mark.parametrize("kind", list(REFUSED))
def test_bad_images_are_refused_and_nothing_is_stored(client: httpx.Client, service: Service, kind: str) -> None:
    make, status, code, words = REFUSED[kind]
    before = redis_snapshot(service)
    r = post_image(client, make())
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == code and words in body["detail"], body
    assert nothing_stored(service, before)
    assert client.get("/healthz").status_code == 200
    service.api.ensure_alive()


@pytest.mark.parametrize(("params", "field"), [
    ({"queries": "many"}, "params.queries"),
    ({"queries": 10**7}, "params.queries"),
    ({"queries": 0}, "params.queries"),
    ({"chains": 2.5}, "params.chains"),
    ({"grid": 1}, "params.grid"),
    ({"baseline": "zebra"}, "params.baseline"),
    ({"seed": -1}, "params.seed"),
    ({"lr": [0.1]}, "params.lr"),
])
def test_params_of_the_wrong_type_or_range_are_422_with_the_field(client: httpx.Client, service: Service,
                                                                   upload, params: dict, field: str) -> None:
    before = redis_snapshot(service)
    r = submit(client, upload.png, model="tiny", params=params)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field and r.json()["code"] == "invalid_params"
    assert nothing_stored(service, before)


def test_a_field_given_twice_is_refused_not_half_used(client: httpx.Client, service: Service, upload) -> None:
    before = redis_snapshot(service)
    r = client.post("/explain", files=[("image", ("a.png", upload.png, "image/png"))],
                    data={"model": "tiny", "webhook_events_filter": ["start", "completed"]})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "webhook_events_filter" and "more than once" in r.json()["detail"]
    assert nothing_stored(service, before)


def test_over_the_size_limit_while_streaming(client: httpx.Client, service: Service) -> None:
    """A chunked body has no Content-Length: it is counted as it arrives and cut off at the limit."""
    from tests.support.stack import MAX_UPLOAD

    before = redis_snapshot(service)
    boundary = "b0undary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x.png\"\r\n"
            "Content-Type: image/png\r\n\r\n").encode()

    def body():  # a generator makes httpx send it chunked
        yield head
        for _ in range(4 * MAX_UPLOAD // 65536):
            yield b"\0" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    r = client.post("/explain", content=body(),
                    headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 413 and r.json()["code"] == "upload_too_large"
    assert nothing_stored(service, before)


def _exif_rotated() -> bytes:
    img = Image.new("RGB", (56, 40), "red")
    img.paste((0, 0, 255), (0, 0, 20, 40))
    exif = img.getexif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise: 40 wide, 56 high
    return encode(img, "JPEG", exif=exif)


def _animated_gif() -> bytes:
    frames = [Image.new("P", (56, 40), i) for i in (10, 200, 90)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)


ODD: dict[str, tuple[Callable[[], bytes], tuple[int, int]]] = {
    # name: (payload, (width, height) as displayed)
    "exif rotated jpeg": (_exif_rotated, (40, 56)),
    "animated gif": (_animated_gif, (56, 40)),
    "cmyk jpeg": (lambda: encode(Image.new("CMYK", (56, 40), (0, 255, 0, 0)), "JPEG"), (56, 40)),
    "16-bit png": (lambda: encode(Image.fromarray(
        np.linspace(0, 65535, 56 * 40).reshape(40, 56).astype(np.uint16)), "PNG"), (56, 40)),
    "palette with transparency": (lambda: encode(Image.new("P", (56, 40), 3), "PNG", transparency=3), (56, 40)),
    "grayscale": (lambda: encode(Image.new("L", (56, 40), 128), "PNG"), (56, 40)),
    "avif": (lambda: encode(Image.new("RGB", (56, 40), (30, 160, 90)), "AVIF"), (56, 40)),  # Pillow decodes it
}


@pytest.mark.parametrize("kind", list(ODD))
def test_odd_images_are_explained_at_their_displayed_size(client: httpx.Client, running_worker: Service,
                                                          kind: str) -> None:
    make, (width, height) = ODD[kind]
    job_id = submit_ok(client, make(), model="tiny", params=FAST)
    assert client.get(f"/jobs/{job_id}").json()["image"]["width"] == width
    done = wait_status(client, job_id, "finished", "failed")
    assert done["status"] == "finished", done["error"]
    saliency = np.load(io.BytesIO(client.get(f"/jobs/{job_id}/saliency.npy").content))
    assert saliency.shape == (height, width)
    overlay = Image.open(io.BytesIO(client.get(f"/jobs/{job_id}/overlay.png").content))
    assert overlay.size == (width, height)
