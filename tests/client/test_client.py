"""saliency_client and `saliency submit/status/fetch` against the real service (Redis, worker, API)."""
from __future__ import annotations

import io
import json
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import uvicorn
from PIL import Image

from saliency_cli.main import main
from saliency_client import APIError, Client, Job, JobNotFinished, Unreachable, WaitTimeout
from saliency_client import models as client_models
from tests.support.stack import FAST, Gate, Service, free_port, publish_catalog


@pytest.fixture
def api(running_worker: Service) -> Iterator[Client]:
    with Client(running_worker.url) as c:
        yield c


def test_submit_wait_fetch_writes_the_artifacts(api: Client, upload, tmp_path: Path) -> None:
    seen: list[Job] = []
    submitted = api.submit(upload.png, model="tiny", params=FAST)
    job = api.wait(submitted, timeout=60, poll=0.05, progress=seen.append)
    assert job.status == "finished" and job.result is not None and job.result.queries == FAST["queries"]
    assert seen[-1].status == "finished" and all(a.progress <= b.progress for a, b in zip(seen, seen[1:]))
    written = api.fetch(job, tmp_path / "out")
    assert set(written) == {"saliency.npy", "saliency.png", "overlay.png", "result.json", "uncertainty.npy",
                            "uncertainty.png"}
    assert np.load(written["uncertainty.npy"]).shape == (upload.height, upload.width)
    saliency = np.load(written["saliency.npy"])
    assert saliency.dtype == np.float32 and saliency.shape == (upload.height, upload.width)
    assert Image.open(written["overlay.png"]).size == (upload.width, upload.height)
    assert Job.model_validate_json(written["result.json"].read_text()).result.target == job.result.target
    assert np.array_equal(np.load(io.BytesIO(api.artifact(job.job_id, "saliency.npy"))), saliency)


def test_errors_carry_the_api_error_json(api: Client, upload, service: Service) -> None:
    with pytest.raises(APIError) as bad:
        api.submit(upload.png, model="no-such-model")
    assert (bad.value.status, bad.value.code, bad.value.field) == (422, "unknown_model", "model")
    assert bad.value.body["detail"] == bad.value.detail and "no-such-model" in str(bad.value)
    with pytest.raises(APIError) as missing:
        api.status("0" * 32)
    assert missing.value.status == 404 and missing.value.code == "job_not_found"
    failed = api.wait(api.submit(upload.png, model="broken", params=FAST), timeout=60, poll=0.05)
    assert failed.status == "failed" and failed.error
    with pytest.raises(JobNotFinished, match="failed"):
        api.fetch(failed, "unused")
    with pytest.raises(Unreachable), Client(f"http://127.0.0.1:{free_port()}") as nobody:
        nobody.status("0" * 32)


def test_wait_gives_up_after_its_timeout(api: Client, upload, gate: Gate) -> None:
    slow = api.submit(upload.png, model="tiny", method="gate", params=gate.params())  # runs until canceled
    try:
        with pytest.raises(WaitTimeout) as late:
            api.wait(slow, timeout=0.5, poll=0.1)
        assert late.value.job.status in ("queued", "started")
    finally:
        api.cancel(slow)  # POST /jobs/{id}/cancel
    assert api.wait(slow, timeout=30, poll=0.1).status == "canceled"
    api.delete(slow)  # its data, now
    with pytest.raises(APIError) as gone:
        api.status(slow)
    assert gone.value.status == 410


def test_batches_and_listing(api: Client, upload) -> None:
    batch = api.submit_batch([upload.png, upload.png], model="tiny", params=FAST)
    ids = [j.job_id for j in batch.jobs]
    for job_id in ids:
        assert api.wait(job_id, timeout=60, poll=0.05).status == "finished"
    summary = api.batch(batch)
    assert summary.done and summary.counts["finished"] == 2 and [j.job_id for j in summary.jobs] == ids
    listed = [j.job_id for j in api.iter_jobs(model="tiny", status="finished", page_size=1)]
    assert listed[:2] == ids[::-1] and len(listed) == len(set(listed))
    page = api.jobs(limit=1)
    assert len(page.jobs) == 1 and page.next_cursor
    again = api.cancel_batch(batch)  # all finished: nothing to stop, results kept
    assert again.done and again.counts["finished"] == 2


@pytest.mark.parametrize("schema, model", [
    ("JobView", client_models.Job), ("Result", client_models.Result), ("Links", client_models.Links),
    ("Submitted", client_models.Submitted), ("ImageInfo", client_models.ImageInfo),
    ("Prediction", client_models.Prediction), ("JobPage", client_models.JobPage),
    ("BatchView", client_models.Batch), ("BatchSubmitted", client_models.BatchSubmitted),
    ("BatchJob", client_models.BatchJob),
])
def test_client_models_declare_every_field_the_api_documents(schema: str, model: type, service: Service) -> None:
    import httpx

    spec = httpx.get(f"{service.url}/openapi.json").json()
    documented = set(spec["components"]["schemas"][schema]["properties"])
    assert documented <= set(model.model_fields), f"{schema}: the client lacks {documented - set(model.model_fields)}"


def test_api_key_is_sent_from_the_argument_or_the_environment(service: Service, upload,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """An API with keys on, served here by uvicorn on the shared Redis; its queue has no worker."""
    from app.main import create_app
    from jobs.settings import Settings

    monkeypatch.setenv("SALIENCY_MODELS_FILE", service.env["SALIENCY_MODELS_FILE"])
    key = secrets.token_urlsafe(24)
    settings = Settings(redis_url=service.env["SALIENCY_REDIS_URL"], queue=f"keyed-{secrets.token_hex(4)}",
                        key_prefix=f"keyed-{secrets.token_hex(4)}", auth=True, api_keys=f"dana:{key}")
    publish_catalog(service.redis, settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        from tests.support.stack import wait_until

        wait_until(lambda: server.started, 30, "the keyed API")
        url = f"http://127.0.0.1:{port}"
        with Client(url, api_key=key) as c:
            job_id = c.submit(upload.png, model="tiny").job_id
            assert [j.job_id for j in c.jobs().jobs] == [job_id]
        monkeypatch.setenv("SALIENCY_API_KEY", key)
        with Client(url) as c:
            assert c.status(job_id).status == "queued"
        monkeypatch.delenv("SALIENCY_API_KEY")
        with pytest.raises(APIError) as anon, Client(url) as c:
            c.status(job_id)
        assert anon.value.status == 401 and anon.value.code == "unauthorized"
    finally:
        server.should_exit = True
        thread.join(10)


def test_cli_submit_wait_out_then_status_and_fetch(running_worker: Service, upload, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    image = tmp_path / "planted.png"
    image.write_bytes(upload.png)
    out = tmp_path / "out"
    assert main(["submit", str(image), "--url", running_worker.url, "--model", "tiny",
                 "--params", json.dumps(FAST), "--wait", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    job_id = printed.out.split()[0]
    assert len(job_id) == 32 and f"-> {out}" in printed.out
    assert "finished  100%" in printed.err  # progress went to stderr
    saliency = np.load(out / "saliency.npy")
    assert saliency.shape == (upload.height, upload.width)
    assert json.loads((out / "result.json").read_text())["job_id"] == job_id

    monkeypatch.setenv("SALIENCY_URL", running_worker.url)  # the default of --url
    assert main(["status", job_id]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "finished"
    again = tmp_path / "again"
    assert main(["fetch", job_id, "--out", str(again)]) == 0
    assert np.array_equal(np.load(again / "saliency.npy"), saliency)
    assert (again / "overlay.png").read_bytes() == (out / "overlay.png").read_bytes()
    capsys.readouterr()
    assert main(["status", "0" * 32]) == 2
    assert "error: HTTP 404 job_not_found" in capsys.readouterr().err


def test_cli_submits_several_images_as_a_batch(running_worker: Service, upload, tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    paths = []
    for i in range(2):
        paths.append(tmp_path / f"img{i}.png")
        paths[-1].write_bytes(upload.png)
    assert main(["submit", *map(str, paths), "--url", running_worker.url, "--model", "tiny",
                 "--queries", "100", "--params", '{"chains": 20, "grid": 4}', "--out", str(tmp_path / "out")]) == 0
    lines = capsys.readouterr().out.splitlines()
    ids = [line.split()[0] for line in lines[:2]]
    assert [line.split()[1] for line in lines[:2]] == list(map(str, paths))
    for job_id in ids:
        assert np.load(tmp_path / "out" / job_id / "saliency.npy").shape == (upload.height, upload.width)
    assert main(["submit", str(paths[0]), "--url", running_worker.url, "--model", "nope"]) == 2
    assert "unknown_model (model)" in capsys.readouterr().err
