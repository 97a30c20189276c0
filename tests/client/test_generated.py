"""A client generated from /openapi.json by openapi-python-client (as a team would make one in its
own language) works against the real stack: it submits an image, polls the job and downloads an
artifact. Also what generators and HTTP tooling read from the schema: uploads as binary, PNG
answers as bytes, 400 for a malformed body, `minItems` on a batch's images, and `Allow` on 405."""
from __future__ import annotations

import importlib
import io
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.support.stack import FAST, Service, wait_until

PACKAGE = "saliency_generated_client"


@pytest.fixture
def generated(client: httpx.Client, tmp_path: Path):
    spec = tmp_path / "openapi.json"
    spec.write_text(client.get("/openapi.json").text)
    config = tmp_path / "config.yml"
    config.write_text("post_hooks: []\n")  # no formatter run: the generated code is used as is
    cli = Path(sys.executable).with_name("openapi-python-client")
    if not cli.exists():
        pytest.skip("openapi-python-client is not installed (the `test` extra has it)")
    run = subprocess.run([str(cli), "generate", "--path", str(spec), "--config", str(config), "--meta", "none",
                          "--output-path", str(tmp_path / PACKAGE)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "WARNING" not in run.stdout + run.stderr, run.stdout + run.stderr  # nothing left out
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def test_a_generated_client_submits_polls_and_downloads(generated, running_worker: Service, upload) -> None:
    submit = importlib.import_module(f"{PACKAGE}.api.jobs.submit_explain_post")
    status = importlib.import_module(f"{PACKAGE}.api.jobs.job_status_jobs_job_id_get")
    overlay = importlib.import_module(f"{PACKAGE}.api.jobs.overlay_png_jobs_job_id_overlay_png_get")
    body_type = importlib.import_module(f"{PACKAGE}.models.submit_explain_post_explain_form").SubmitExplainPostExplainForm
    file_type = importlib.import_module(f"{PACKAGE}.types").File

    with generated.Client(base_url=running_worker.url, raise_on_unexpected_status=True) as api:
        body = body_type(image=file_type(payload=io.BytesIO(upload.png), file_name="upload.png", mime_type="image/png"),
                         model="tiny", params=json.dumps(FAST))
        answer = submit.sync_detailed(client=api, body=body)
        assert answer.status_code == 202, answer.content
        job_id = answer.parsed.job_id

        def finished():
            job = status.sync(client=api, job_id=job_id)
            return job if job.status in ("finished", "failed") else None
        job = wait_until(finished, 60, "the job, polled by the generated client")
        assert job.status == "finished" and job.result.queries == FAST["queries"]

        picture = overlay.sync(client=api, job_id=job_id)
        image = Image.open(picture.payload)
        assert image.format == "PNG" and image.size == (upload.width, upload.height)


def test_the_schema_says_what_generators_need(client: httpx.Client, service: Service) -> None:
    spec = client.get("/openapi.json").json()
    def body(path: str) -> dict:
        return spec["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body("/explain")["properties"]["image"]["format"] == "binary"
    images = body("/batches")["properties"]["images"]
    assert images["items"]["format"] == "binary" and images["minItems"] == 1
    for path in ("/explain", "/batches", "/predict"):
        assert "400" in spec["paths"][path]["post"]["responses"], path
    png = spec["paths"]["/jobs/{job_id}/overlay.png"]["get"]["responses"]["200"]["content"]
    assert png["image/png"]["schema"]["format"] == "binary"
    # A malformed multipart body is the declared 400, in the one error shape.
    r = client.post("/explain", content=b"--x\r\nnot a part", headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert r.status_code == 400 and set(r.json()) == {"detail", "code", "field"}, r.text


def test_405_lists_every_allowed_method(client: httpx.Client, service: Service) -> None:
    r = client.put(f"/jobs/{'0' * 32}")
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"
    assert r.headers["allow"] == "DELETE, GET"  # both routes of the path, not the first one tried
    assert client.get("/explain").headers["allow"] == "POST"
