"""A model served elsewhere, end to end: a real KServe ModelServer (tests/support/remote.py), and a
worker and API of their own (a queue and key prefix of their own, on the shared Redis) whose
models file declares the KServe model, with a secret header, beside a dead endpoint.

Submitted to POST /explain and to KServe's POST /v1/models/{name}:explain, polled, its artifacts
fetched; the map is the one the same network makes locally. GET /models shows the endpoint's host
and black-box methods, never the secret; gradient methods are refused with why; a dead endpoint
fails its job with a message naming it, and the worker goes on; a slow one runs past the job's limit
and fails it."""
from __future__ import annotations

import base64
import io
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.support.remote import KServe, write_models
from tests.support.stack import (FAST, RedisServer, Upload, extra_api, free_port, submit, submit_ok, wait_status,
                                 wait_until)
from tests.support.processes import Proc

SECRET = "remote-secret-value-0123456789abcdef"
JOB_TIMEOUT = 15  # SALIENCY_JOB_TIMEOUT of this stack: the other jobs here take a second or two


@pytest.fixture(scope="module")
def remote_api(kserve: KServe, tiny_toml: Path, redis_server: RedisServer, service_env: dict[str, str],
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Proc]]:
    folder = tmp_path_factory.mktemp("remote-stack")
    dead = f"http://127.0.0.1:{free_port()}/v2/models/tiny"  # nothing listens there
    models = write_models(folder / "models.toml", {
        "remote": kserve.entry("tiny", "v2", headers={"X-Token": "${REMOTE_TEST_TOKEN}"}),
        "remote_dead": {**kserve.entry("tiny", "v2"), "url": dead, "retries": 1},
        "remote_slow": kserve.entry("tiny_slow", "v2-grpc", timeout=60, retries=0),  # SLOW s a request
    }, prefix=tiny_toml.read_text().replace('"tiny.pt2"', f'"{tiny_toml.parent / "tiny.pt2"}"')
                .replace('"tiny_labels.txt"', f'"{tiny_toml.parent / "tiny_labels.txt"}"'))
    env = {**service_env, "SALIENCY_QUEUE": "remote-test", "SALIENCY_KEY_PREFIX": "remote-test",
           "SALIENCY_MODELS_FILE": str(models), "SALIENCY_PRELOAD": "none", "SALIENCY_WORKER_METRICS_PORT": "0",
           "SALIENCY_JOB_TIMEOUT": str(JOB_TIMEOUT), "SALIENCY_LOG_LEVEL": "DEBUG",  # the most it logs
           "REMOTE_TEST_TOKEN": SECRET}
    worker = Proc("remote-worker", [sys.executable, "-m", "worker"], env, folder / "worker.log")
    worker.start()
    try:
        with extra_api("remote-api", {k: v for k, v in env.items() if k != "REMOTE_TEST_TOKEN"}, folder) as url:
            def published() -> bool:
                worker.ensure_alive()
                return any(m["name"] == "remote" for m in httpx.get(f"{url}/models", timeout=5).json())
            wait_until(published, 90, "the remote worker to publish its models", interval=0.2)
            yield url, worker
    finally:
        worker.stop(signal.SIGTERM)


@pytest.fixture()
def api(remote_api: tuple[str, Proc]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=remote_api[0], timeout=30) as c:
        yield c


def test_get_models_shows_the_endpoint_and_black_box_methods_never_the_secret(api: httpx.Client,
                                                                              kserve: KServe) -> None:
    r = api.get("/models")
    assert SECRET not in r.text and "X-Token" not in r.text
    remote = next(m for m in r.json() if m["name"] == "remote")
    assert remote["source"] == "remote" and remote["protocol"] == "v2" and remote["gradients"] is False
    assert remote["endpoint"] == kserve.http.removeprefix("http://")
    assert "oise" in remote["methods"] and "gradcam" not in remote["methods"]
    assert {m["name"] for m in r.json()} >= {"tiny", "remote", "remote_dead"}


def test_gradient_methods_are_refused_with_why(api: httpx.Client, upload: Upload, kserve: KServe) -> None:
    r = submit(api, upload.png, model="remote", method="gradcam")
    assert r.status_code == 422 and r.json()["code"] == "unsupported_method" and r.json()["field"] == "method"
    assert "served elsewhere" in r.json()["detail"] and kserve.http.removeprefix("http://") in r.json()["detail"]


def test_explain_a_remote_model_poll_and_fetch(api: httpx.Client, upload: Upload, tiny_toml: Path,
                                               remote_api: tuple[str, Proc],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    params = {**FAST, "seed": 5}
    job = wait_status(api, submit_ok(api, upload.png, model="remote", params=params, target=upload.label),
                      "finished", "failed")
    assert job["status"] == "finished", job["error"]
    stored = np.load(io.BytesIO(api.get(f"/jobs/{job['job_id']}/saliency.npy").content))
    assert stored.shape == (upload.height, upload.width)
    for name in ("saliency.png", "overlay.png"):
        assert api.get(f"/jobs/{job['job_id']}/{name}").content.startswith(b"\x89PNG")
    model = job["audit"]["model"]
    assert model["source"] == "remote" and model["weights_sha256"] is None
    assert model["remote"]["endpoint"].endswith("/v2/models/tiny") and model["remote"]["input"] == "images"
    assert SECRET not in str(job["audit"])
    # the worker, logging at DEBUG, logged its requests to the endpoint but never the header's value
    log = remote_api[1].log_path.read_text(errors="replace")
    assert "/v2/models/tiny/infer" in log and SECRET not in log
    # the same network run here, with the same seed, makes the same map
    from saliency import explain

    monkeypatch.setenv("SALIENCY_MODELS_FILE", str(tiny_toml))
    local = explain(upload.png, model="tiny", target=upload.label, params=params)
    np.testing.assert_allclose(stored, local.saliency, atol=1e-4)
    assert job["result"]["target"]["index"] == local.target.index


def test_kserve_explain_route_submits_a_job(api: httpx.Client, upload: Upload) -> None:
    body = {"instances": [{"image_bytes": {"b64": base64.b64encode(upload.png).decode()}}],
            "parameters": {"params": FAST, "target": upload.label}}
    r = api.post("/v1/models/remote:explain", json=body)
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    assert r.headers["location"] == f"/jobs/{job_id}"
    assert wait_status(api, job_id, "finished", "failed")["status"] == "finished"
    two = api.post("/v1/models/tiny:explain", json={"instances": [base64.b64encode(upload.png).decode()] * 2,
                                                      "parameters": {"params": FAST}})
    assert two.status_code == 202 and two.headers["location"].startswith("/batches/")
    bad = api.post("/v1/models/remote:explain", json={"instances": ["not base64!"]})
    assert bad.status_code == 422 and bad.json()["field"] == "instances[0]"


def test_a_dead_endpoint_fails_its_job_readably_and_the_worker_goes_on(api: httpx.Client, upload: Upload,
                                                                       remote_api: tuple[str, Proc]) -> None:
    failed = wait_status(api, submit_ok(api, upload.png, model="remote_dead", params=FAST), "finished", "failed")
    assert failed["status"] == "failed"
    assert "remote_dead" in failed["error"] and "could not connect to 127.0.0.1:" in failed["error"]
    assert "Traceback" not in failed["error"]
    assert remote_api[1].alive
    after = wait_status(api, submit_ok(api, upload.png, model="remote", params=FAST), "finished", "failed")
    assert after["status"] == "finished", after["error"]


def test_a_job_past_its_deadline_fails(api: httpx.Client, upload: Upload) -> None:
    # 50 sequential steps of SLOW seconds each: far past the job's limit, whatever the machine
    job = submit_ok(api, upload.png, model="remote_slow", params={**FAST, "queries": 1000})
    failed = wait_status(api, job, "finished", "failed", timeout=JOB_TIMEOUT + 60)
    assert failed["status"] == "failed"
    assert f"longer than the limit of {JOB_TIMEOUT} s" in failed["error"]
