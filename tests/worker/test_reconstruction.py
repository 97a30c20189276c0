"""Reconstructions over HTTP: with POST /explain (reconstruct=true) and for a finished job,
through a real Redis, worker and API; a model without a generator gets 422."""
from __future__ import annotations

import io
import json

import httpx
import pytest
from PIL import Image

from tests.support.stack import FAST, RECON, Gate, Service, submit, submit_ok, wait_status, wait_until

def wait_recon(client: httpx.Client, url: str, timeout: float = 90) -> dict:
    def done() -> dict | None:
        r = client.get(url)
        assert r.status_code == 200, r.text
        body = r.json()
        return body if body["status"] in ("finished", "failed", "canceled") else None
    return wait_until(done, timeout, f"reconstruction {url}")

def check_finished(client: httpx.Client, body: dict) -> None:
    assert body["status"] == "finished", body["error"]
    variations = body["variations"]
    assert len(variations) == RECON["variations"]
    assert body["acceptance"] == pytest.approx(sum(v["held"] for v in variations) / len(variations))
    assert body["near_copy_floor"] > 0 and body["diversity"] >= 0
    result = body["result"]
    hole, box = result["hole"], result["salient_box"]
    assert box[0] <= hole[0] < hole[2] <= box[2] and box[1] <= hole[1] < hole[3] <= box[3]
    grid = client.get(body["pictures"]["variations.png"])
    assert grid.status_code == 200 and grid.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(grid.content)).width > 0
    one = client.get(variations[1]["picture"])
    assert one.status_code == 200
    view = result["view"]
    assert Image.open(io.BytesIO(one.content)).size == (view[2] - view[0], view[3] - view[1])

def test_explain_with_reconstruct(client: httpx.Client, running_worker: Service, upload, gen_model: str) -> None:
    r = submit(client, upload.png, model=gen_model, params=FAST, reconstruct="true",
               reconstruct_params=json.dumps(RECON))
    assert r.status_code == 202, r.text
    body = r.json()
    url = body["reconstruction"]
    assert url.startswith(f"/jobs/{body['job_id']}/reconstructions/")
    assert client.get(f"/jobs/{body['job_id']}/reconstructions").json() == [url.rsplit("/", 1)[1]]
    done = wait_recon(client, url)
    check_finished(client, done)
    explained = wait_status(client, body["job_id"], "finished")
    assert done["result"]["target"]["index"] == explained["result"]["target"]["index"]
    assert done["params"]["variations"] == RECON["variations"] and done["params"]["hidden"] == 0.5


def test_explain_with_reconstruct_by_an_inpainter(client: httpx.Client, running_worker: Service, upload,
                                                  inpainter_model: str) -> None:
    r = submit(client, upload.png, model=inpainter_model, params=FAST, reconstruct="true",
               reconstruct_params=json.dumps(RECON))
    assert r.status_code == 202, r.text
    done = wait_recon(client, r.json()["reconstruction"])
    check_finished(client, done)
    assert done["result"]["generator_kind"] == "inpainter"
    models = {m["name"]: m for m in client.get("/models").json()}
    assert models[inpainter_model]["generator"] is True


def test_reconstruct_a_finished_job(client: httpx.Client, running_worker: Service, upload, gen_model: str) -> None:
    job_id = submit_ok(client, upload.png, model=gen_model, params=FAST)
    wait_status(client, job_id, "finished")
    r = client.post(f"/jobs/{job_id}/reconstructions", json={**RECON, "hidden": 0.3})
    assert r.status_code == 202, r.text
    assert r.headers["location"] == r.json()["link"]
    done = wait_recon(client, r.json()["link"])
    check_finished(client, done)
    assert done["params"]["hidden"] == 0.3

def test_model_without_generator_is_422(client: httpx.Client, upload, gen_model: str, service: Service) -> None:
    before = service.redis.dbsize()
    r = submit(client, upload.png, model="tiny", params=FAST, reconstruct="true")
    assert r.status_code == 422
    assert r.json()["code"] == "no_generator" and r.json()["field"] == "reconstruct"
    assert "declares no generator" in r.json()["detail"]
    assert service.redis.dbsize() == before  # nothing stored

    job_id = submit_ok(client, upload.png, model="tiny", params=FAST)
    r = client.post(f"/jobs/{job_id}/reconstructions", json=RECON)
    assert r.status_code == 422 and r.json()["code"] == "no_generator"

def test_bad_reconstruction_options_name_the_field(client: httpx.Client, upload, gen_model: str) -> None:
    r = submit(client, upload.png, model=gen_model, params=FAST, reconstruct="true",
               reconstruct_params='{"hidden": 2}')
    assert r.status_code == 422 and r.json()["field"] == "reconstruct_params.hidden"
    r = client.get(f"/jobs/{'0' * 32}/reconstructions/{'1' * 32}")
    assert r.status_code == 404

def test_canceled_explanation_cancels_its_reconstruction(client: httpx.Client, running_worker: Service, upload,
                                                         gen_model: str, gate: Gate) -> None:
    r = submit(client, upload.png, model=gen_model, method="gate", params=gate.params(), reconstruct="true",
               reconstruct_params=json.dumps(RECON))
    assert r.status_code == 202, r.text
    job_id, url = r.json()["job_id"], r.json()["reconstruction"]
    assert client.get(url).json()["status"] == "queued"  # waits for the explanation
    wait_status(client, job_id, "started")
    assert client.post(f"/jobs/{job_id}/cancel").status_code == 202
    wait_status(client, job_id, "canceled")
    body = client.get(url).json()
    assert body["status"] == "canceled" and "canceled" in body["error"]
    assert client.get(f"{url}/variations.png").status_code == 409
