"""POST /batches and GET /batches/{id} against the real Redis, worker and API processes."""
from __future__ import annotations

import io

import httpx
import numpy as np
from PIL import Image

from tests.support.stack import FAST, Service, wait_until


def planted_png(seed: int, height: int, width: int) -> bytes:
    """A small planted-object picture, cropped to height x width so each image is told apart."""
    from saliency.data.planted import make_planted

    data = make_planted(1, size=max(height, width), seed=seed)
    pixels = (data.images[0].transpose(1, 2, 0)[:height, :width] * 255).round().astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, format="PNG")
    return buf.getvalue()


def post_batch(client: httpx.Client, pngs: list[bytes], **fields: str) -> httpx.Response:
    files = [("images", (f"img{i}.png", png, "image/png")) for i, png in enumerate(pngs)]
    return client.post("/batches", files=files, data=fields)


def batch_keys(service: Service) -> set[bytes]:
    return set(service.redis.scan_iter(match=b"saliency:batch:*")) | set(service.redis.scan_iter(match=b"saliency:job:*"))


def test_a_batch_of_three_finishes_and_is_summarised(client: httpx.Client, running_worker: Service) -> None:
    sizes = [(32, 32), (24, 40), (40, 28)]
    r = post_batch(client, [planted_png(i, h, w) for i, (h, w) in enumerate(sizes)], model="tiny",
                   params='{"queries": 100, "chains": 20, "grid": 4}')
    assert r.status_code == 202, r.text
    body = r.json()
    batch_id = body["batch_id"]
    assert r.headers["location"] == f"/batches/{batch_id}" == body["links"]["self"]
    job_ids = [j["job_id"] for j in body["jobs"]]
    assert len(set(job_ids)) == 3 and all(j["status"] == "queued" for j in body["jobs"])

    def done() -> dict | None:
        view = client.get(f"/batches/{batch_id}").json()
        assert view["total"] == 3 and sum(view["counts"].values()) == 3
        return view if view["done"] else None
    view = wait_until(done, 60, "the batch to finish")
    assert [j["job_id"] for j in view["jobs"]] == job_ids  # upload order
    assert view["counts"] == {"queued": 0, "started": 0, "finished": 3, "failed": 0, "canceled": 0, "expired": 0}
    assert all(j["progress"] == 1.0 and j["links"]["self"] == f"/jobs/{j['job_id']}" for j in view["jobs"])
    for job_id, (h, w) in zip(job_ids, sizes):  # each job explains its own image, with the shared fields
        job = client.get(f"/jobs/{job_id}").json()
        assert job["model"] == "tiny" and job["params"]["queries"] == FAST["queries"]
        assert (job["image"]["height"], job["image"]["width"]) == (h, w)
        saliency = np.load(io.BytesIO(client.get(f"/jobs/{job_id}/saliency.npy").content))
        assert saliency.shape == (h, w)


def test_a_batch_in_progress_counts_each_status_and_cancels(client: httpx.Client, running_worker: Service) -> None:
    r = post_batch(client, [planted_png(7, 32, 32)] * 3, model="tiny", params='{"queries": 200000, "chains": 20, "grid": 4}')
    assert r.status_code == 202, r.text
    batch_id, job_ids = r.json()["batch_id"], [j["job_id"] for j in r.json()["jobs"]]
    view = client.get(f"/batches/{batch_id}").json()
    assert not view["done"] and view["counts"]["queued"] + view["counts"]["started"] == 3
    assert client.delete(f"/jobs/{job_ids[0]}").status_code in (200, 202)  # one by hand, then the rest
    wait_until(lambda: client.get(f"/jobs/{job_ids[0]}").json()["status"] == "canceled", 30, "the first cancel")
    r = client.delete(f"/batches/{batch_id}")
    assert r.status_code in (200, 202), r.text
    assert r.json()["counts"]["finished"] == 0 and r.json()["done"] == (r.status_code == 200)
    view = wait_until(lambda: (v := client.get(f"/batches/{batch_id}").json())["done"] and v, 30, "cancels")
    assert view["counts"]["canceled"] == 3
    r = client.delete(f"/batches/{batch_id}")  # again: nothing left to stop
    assert r.status_code == 200 and r.json()["counts"]["canceled"] == 3


def test_one_bad_image_refuses_the_batch_and_stores_nothing(client: httpx.Client, service: Service) -> None:
    before = batch_keys(service)
    r = post_batch(client, [planted_png(1, 32, 32), b"not a picture", planted_png(2, 32, 32)], model="tiny")
    assert r.status_code == 415, r.text
    assert r.json()["code"] == "not_an_image" and "images[1] (img1.png)" in r.json()["detail"]
    r = post_batch(client, [planted_png(1, 32, 32)], model="no-such-model")
    assert r.status_code == 422 and r.json()["field"] == "model"
    assert not batch_keys(service) - before  # nothing added (older keys may expire meanwhile)


def test_too_many_images_is_422_naming_the_field(client: httpx.Client, service: Service) -> None:
    before = batch_keys(service)
    png = planted_png(3, 16, 16)
    r = post_batch(client, [png] * 17, model="tiny")  # the default limit is 16
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "too_many_images" and r.json()["field"] == "images"
    assert not batch_keys(service) - before  # nothing added (older keys may expire meanwhile)


def test_unknown_batch_is_404(client: httpx.Client) -> None:
    for batch_id in ("0" * 32, "no-such:id"):
        for r in (client.get(f"/batches/{batch_id}"), client.delete(f"/batches/{batch_id}")):
            assert r.status_code == 404 and r.json()["code"] == "batch_not_found"
