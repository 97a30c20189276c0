"""The `audit` object of a job: complete, correct, and enough to reproduce the map."""
from __future__ import annotations

import hashlib
import io
import socket
from datetime import datetime
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
import torchvision

from tests.support.stack import FAST, Gate, Service, submit_ok, wait_status


def test_audit_of_a_finished_job(client: httpx.Client, running_worker: Service, upload,
                                 tiny_models_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rq import SimpleWorker

    from saliency.models import load_model
    from worker.audit import source_hash

    job_id = submit_ok(client, upload.png, model="tiny", params={**FAST, "seed": 7}, target=upload.label)
    done = wait_status(client, job_id, "finished", "failed")
    assert done["status"] == "finished", done["error"]
    audit, result = done["audit"], done["result"]

    monkeypatch.setenv("SALIENCY_MODELS_FILE", str(tiny_models_file))
    net = load_model("tiny", device="cpu")
    assert audit["model"]["name"] == "tiny" and audit["model"]["source"] == "config"
    assert audit["model"]["weights_sha256"] == net.weights_sha256  # the weights this process loads
    assert audit["model"]["parameters"] == sum(p.numel() for p in net.module.parameters())
    runtime = audit["runtime"]  # the worker's choice, by its own measurement: any verified one
    assert runtime["name"] in ("torch", "onnxruntime", "openvino") and runtime["version"]
    assert runtime["requested"] == "auto" and runtime["chunk"] >= 1 and runtime["used_for"] == "every forward pass"
    assert runtime["name"] == "torch" or runtime["max_prob_diff"] <= 1e-4
    assert audit["method"] == "oise" and audit["seed"] == 7
    assert audit["params"] == done["params"] and audit["params"]["seed"] == 7
    assert audit["params"]["queries"] == FAST["queries"]
    assert audit["target"] == result["target"]["index"] == done["target"]["index"]
    assert audit["image_sha256"] == hashlib.sha256(upload.png).hexdigest()
    versions = audit["versions"]
    assert versions["torch"] == torch.__version__ and versions["torchvision"] == torchvision.__version__
    assert versions["saliency_source_sha256"] == source_hash() and versions["saliency-service"]
    names = {w.name for w in SimpleWorker.all(connection=running_worker.redis)}
    assert audit["worker"] in names and audit["host"] == socket.gethostname()
    assert audit["device"] == "cpu" == result["device"]
    t = {k: v for k, v in audit["timings"].items()}
    queued, started, ended = (datetime.fromisoformat(t[k]) for k in ("queued_at", "started_at", "ended_at"))
    assert queued <= started <= ended
    assert t["queue_wait_seconds"] >= 0 and t["run_seconds"] > 0
    assert audit["queries"] == {"method": result["queries"], "metrics": 0, "total": result["queries"]}

    # Reproduce: the library, given what the audit names, makes the same map.
    from saliency import explain

    again = explain(upload.png, model=net, method=audit["method"], target=audit["target"],
                    params=audit["params"])
    stored = np.load(io.BytesIO(client.get(f"/jobs/{job_id}/saliency.npy").content))  # httpx un-gzips
    np.testing.assert_allclose(again.saliency, stored, atol=1e-5)


def test_audit_of_failed_and_queued_jobs(client: httpx.Client, running_worker: Service, upload,
                                         gate: Gate) -> None:
    failed = wait_status(client, submit_ok(client, upload.png, model="broken", params=FAST), "failed")
    audit = failed["audit"]
    assert audit["model"] is None  # its weights never loaded
    assert audit["worker"] and audit["versions"]["torch"] == torch.__version__
    assert audit["queries"] is None and audit["timings"]["ended_at"] is not None
    assert audit["params"]["queries"] == FAST["queries"]  # the request's, as accepted

    slow = submit_ok(client, upload.png, model="tiny", method="gate", params=gate.params())  # keeps the worker busy
    wait_status(client, slow, "started")
    job_id = submit_ok(client, upload.png, model="tiny", params=FAST)
    queued = client.get(f"/jobs/{job_id}").json()
    assert client.post(f"/jobs/{slow}/cancel").status_code == 202
    assert queued["status"] == "queued"
    audit = queued["audit"]
    assert audit["worker"] is None and audit["model"] is None and audit["versions"] == {}
    assert audit["timings"]["queued_at"] and audit["timings"]["started_at"] is None
    assert audit["image_sha256"] == hashlib.sha256(upload.png).hexdigest()
    wait_status(client, job_id, "finished")
