"""The HTTP API against a real Redis, a real worker and uvicorn: submit, poll, fetch, reject."""
from __future__ import annotations

import io
from datetime import datetime

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.support.stack import FAST, MAX_UPLOAD, QUEUE, Service, submit, submit_ok, wait_status


def test_health_and_openapi(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    spec = client.get("/openapi.json").json()
    assert {"/explain", "/jobs/{job_id}", "/jobs/{job_id}/saliency.npy", "/models", "/readyz"} <= set(spec["paths"])
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_ready_with_a_worker(client: httpx.Client, running_worker: Service) -> None:
    body = client.get("/readyz").json()
    assert body["status"] == "ready" and body["redis"] and body["workers"] >= 1


def test_models_lists_user_models_and_their_methods(client: httpx.Client) -> None:
    r = client.get("/models")
    assert r.status_code == 200
    models = {m["name"]: m for m in r.json()}
    tiny = models["tiny"]
    assert tiny["input_size"] == [32, 32]
    assert tiny["source"] == "config"
    assert "oise" in tiny["methods"]
    assert "efficientnet_lite0" in models


def test_explain_end_to_end(client: httpx.Client, running_worker: Service, upload, tiny_models_file) -> None:
    r = submit(client, upload.png, model="tiny", params=FAST)
    assert r.status_code == 202, r.text
    body = r.json()
    job_id = body["job_id"]
    assert body["status"] == "queued"
    assert r.headers["location"] == f"/jobs/{job_id}"
    assert body["links"]["self"] == f"/jobs/{job_id}"

    done = wait_status(client, job_id, "finished", "failed", timeout=60)
    assert done["status"] == "finished", done["error"]
    assert done["progress"] == 1.0
    assert done["model"] == "tiny" and done["method"] == "oise"
    assert done["params"]["queries"] == 100 and done["params"]["grid"] == 4  # defaults filled in
    assert done["target"] is None and done["error"] is None
    assert done["image"] == {"width": upload.width, "height": upload.height, "bytes": len(upload.png)}
    times = [datetime.fromisoformat(done[k]) for k in ("created_at", "started_at", "ended_at")]
    assert times == sorted(times) and all(t.tzinfo is not None for t in times)
    result = done["result"]
    assert result["queries"] == 100
    labels = (tiny_models_file.parent / "tiny_labels.txt").read_text().split()
    assert result["target"]["label"] == labels[result["target"]["index"]]
    assert result["top5"][0] == result["target"]
    assert 0 < result["target"]["score"] <= 1
    assert set(result["artifacts"]) == {"saliency.npy", "saliency.png", "overlay.png", "uncertainty.npy",
                                        "uncertainty.png"}
    assert 0 <= result["stability"] <= 1 and result["stopped"] == "budget"
    unsure = np.load(io.BytesIO(client.get(result["artifacts"]["uncertainty.npy"]).content))
    assert unsure.dtype == np.float32 and unsure.shape == (upload.height, upload.width)
    assert np.isfinite(unsure).all() and (unsure >= 0).all()

    npy = client.get(result["artifacts"]["saliency.npy"])  # httpx asks for gzip and decodes it
    assert npy.status_code == 200
    assert npy.headers["content-encoding"] == "gzip"
    saliency = np.load(io.BytesIO(npy.content))
    assert saliency.dtype == np.float32
    assert saliency.shape == (upload.height, upload.width)
    assert np.isfinite(saliency).all() and saliency.max() > 0

    plain = client.get(result["artifacts"]["saliency.npy"], headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert np.array_equal(np.load(io.BytesIO(plain.content)), saliency)

    for name in ("saliency.png", "overlay.png", "uncertainty.png"):
        png = client.get(result["artifacts"][name])
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        img = Image.open(io.BytesIO(png.content))
        assert img.format == "PNG" and img.size == (upload.width, upload.height)


def test_adaptive_job_reports_its_stability_and_queries(client: httpx.Client, running_worker: Service,
                                                        upload) -> None:
    params = {"chains": 20, "grid": 4, "target_stability": 0.5, "max_queries": 400, "round_queries": 100}
    done = wait_status(client, submit_ok(client, upload.png, model="tiny", params=params), "finished", "failed")
    assert done["status"] == "finished", done["error"]
    result = done["result"]
    assert result["stopped"] in ("target", "cap") and result["queries"] <= 400
    assert (result["stability"] >= 0.5) == (result["stopped"] == "target")
    assert done["params"]["target_stability"] == 0.5


def test_methods_that_do_not_sample_have_no_uncertainty(client: httpx.Client, running_worker: Service,
                                                        upload) -> None:
    done = wait_status(client, submit_ok(client, upload.png, model="tiny", method="occlusion"), "finished", "failed")
    assert done["status"] == "finished", done["error"]
    assert "stability" not in done["result"] or done["result"]["stability"] is None
    assert set(done["result"]["artifacts"]) == {"saliency.npy", "saliency.png", "overlay.png"}
    r = client.get(f"/jobs/{done['job_id']}/uncertainty.npy")
    assert r.status_code == 404 and r.json()["code"] == "no_artifact"


def test_explain_a_named_class(client: httpx.Client, running_worker: Service, upload) -> None:
    other = "cross" if upload.label != "cross" else "ring"
    job_id = submit_ok(client, upload.png, model="tiny", target=other.upper(), params=FAST)
    queued = client.get(f"/jobs/{job_id}").json()
    assert queued["target"]["label"] == other
    done = wait_status(client, job_id, "finished", "failed")
    assert done["status"] == "finished", done["error"]
    assert done["result"]["target"]["label"] == other
    assert done["result"]["target"]["index"] == queued["target"]["index"]


def test_worker_failure_is_readable_and_the_worker_goes_on(client: httpx.Client, running_worker: Service,
                                                           upload) -> None:
    # `broken`'s weights file exists but holds no network: it is listed, and the worker cannot load it.
    bad = submit_ok(client, upload.png, model="broken", params=FAST)
    failed = wait_status(client, bad, "finished", "failed")
    assert failed["status"] == "failed"
    assert "is not a TorchScript" in failed["error"] and "broken.pt" in failed["error"]
    assert "Traceback" not in failed["error"]
    assert failed["result"] is None
    assert client.get(f"/jobs/{bad}/overlay.png").status_code == 409

    good = submit_ok(client, upload.png, model="tiny", params=FAST)
    assert wait_status(client, good, "finished", "failed")["status"] == "finished"
    assert running_worker.worker.alive


def _stored_keys(service: Service) -> int:
    r = service.redis
    return (len(r.keys("saliency:*")) + r.llen(f"rq:queue:{QUEUE}"))


@pytest.mark.parametrize(("fields", "field", "code"), [
    ({"model": "no_such_model"}, "model", "unknown_model"),
    ({"model": "tiny", "method": "no_such_method"}, "method", "unknown_method"),
    ({"model": "tiny", "target": "giraffe"}, "target", "unknown_class"),
    ({"model": "tiny", "target": "7"}, "target", "unknown_class"),
    ({"model": "tiny", "params": {"queries": -5}}, "params.queries", "invalid_params"),
    ({"model": "tiny", "params": {"no_such_option": 1}}, "params.no_such_option", "invalid_params"),
    ({"model": "tiny", "params": "{not json"}, "params", "invalid_params"),
    ({"model": "tiny", "params": "[1, 2]"}, "params", "invalid_params"),
])
def test_bad_requests_name_the_field(client: httpx.Client, service: Service, upload, fields, field,
                                     code) -> None:
    before = _stored_keys(service)
    r = submit(client, upload.png, **fields)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["field"] == field and body["code"] == code and body["detail"]
    assert _stored_keys(service) == before  # nothing stored on error


def test_missing_image_is_422(client: httpx.Client) -> None:
    r = client.post("/explain", data={"model": "tiny"})
    assert r.status_code == 422 and r.json()["field"] == "image"


@pytest.mark.parametrize("payload", [b"this is not an image", b"", b"\x89PNG\r\n\x1a\n truncated"])
def test_not_an_image_is_415(client: httpx.Client, service: Service, payload: bytes) -> None:
    before = _stored_keys(service)
    r = client.post("/explain", files={"image": ("x.png", payload, "image/png")}, data={"model": "tiny"})
    assert r.status_code == 415, r.text
    assert r.json()["code"] == "not_an_image"
    assert _stored_keys(service) == before


def test_upload_over_the_limit_is_413(client: httpx.Client, service: Service) -> None:
    before = _stored_keys(service)
    just_over = client.post("/explain", files={"image": ("x.png", b"\0" * (MAX_UPLOAD + 1), "image/png")})
    assert just_over.status_code == 413 and just_over.json()["code"] == "upload_too_large"
    # Far over: refused from Content-Length before the body is read.
    huge = client.post("/explain", files={"image": ("x.png", b"\0" * (3 * MAX_UPLOAD), "image/png")})
    assert huge.status_code == 413 and huge.json()["code"] == "upload_too_large"
    assert _stored_keys(service) == before


def test_unknown_jobs_are_404(client: httpx.Client) -> None:
    for job_id in ("0" * 32, "not-a-job-id", "rq:queue:saliency-test"):
        assert client.get(f"/jobs/{job_id}").status_code == 404
        assert client.get(f"/jobs/{job_id}/saliency.png").status_code == 404
        assert client.delete(f"/jobs/{job_id}").status_code == 404
        assert client.post(f"/jobs/{job_id}/cancel").status_code == 404
    assert client.get(f"/jobs/{'0' * 32}").json()["code"] == "job_not_found"


def test_expired_results_are_410(client: httpx.Client, running_worker: Service, upload) -> None:
    job_id = submit_ok(client, upload.png, model="tiny", params=FAST)
    assert wait_status(client, job_id, "finished", "failed")["status"] == "finished"
    redis = running_worker.redis
    # What the TTLs do, done now: first the results go, then RQ's job record.
    redis.delete(f"saliency:result:{job_id}")
    gone = client.get(f"/jobs/{job_id}/overlay.png")
    assert gone.status_code == 410 and gone.json()["code"] == "expired"
    assert client.get(f"/jobs/{job_id}").status_code == 410
    redis.delete(f"rq:job:{job_id}")
    assert client.get(f"/jobs/{job_id}").status_code == 410
    assert client.get(f"/jobs/{job_id}/saliency.npy").status_code == 410


def test_a_model_whose_weights_are_absent_is_not_listed_and_refused_naming_the_file(
        client: httpx.Client, upload) -> None:
    """As a new user meets it: `missing` is known to the worker, but its file is not there."""
    listed = {m["name"] for m in client.get("/models").json()}
    assert {"tiny", "tiny_gen", "broken"} <= listed and "missing" not in listed
    everything = {m["name"]: m for m in client.get("/models", params={"all": "true"}).json()}
    assert everything["missing"]["available"] is False
    assert "missing.pt does not exist" in everything["missing"]["unavailable_reason"]
    r = submit(client, upload.png, model="missing", params=FAST)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "model_unavailable" and body["field"] == "model"
    assert "missing.pt does not exist" in body["detail"]


def test_an_unknown_model_gets_close_names(client: httpx.Client, upload) -> None:
    body = submit(client, upload.png, model="tinny", params=FAST).json()
    assert body["code"] == "unknown_model" and "did you mean 'tiny'" in body["detail"]
