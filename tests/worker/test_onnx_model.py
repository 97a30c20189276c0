"""A user's .onnx model through the service: listed as black-box only, explained by a worker on an
ONNX engine, audited with that runtime; gradient methods refused at submission."""
from __future__ import annotations

import hashlib
from pathlib import Path

import httpx

from tests.support.stack import FAST, Service, submit, submit_ok, wait_status


def test_an_onnx_model_is_explained_end_to_end(client: httpx.Client, running_worker: Service, upload,
                                               tiny_models_file: Path) -> None:
    listed = {m["name"]: m for m in client.get("/models").json()}
    model = listed["tiny_onnx"]
    assert model["gradients"] is False and model["available"]
    assert "oise" in model["methods"] and not {"gradcam", "integrated_gradients"} & set(model["methods"])

    done = wait_status(client, submit_ok(client, upload.png, model="tiny_onnx", params=FAST), "finished", "failed")
    assert done["status"] == "finished", done["error"]
    assert done["result"]["queries"] == FAST["queries"]
    audit = done["audit"]
    weights = (tiny_models_file.parent / "tiny.onnx").read_bytes()
    assert audit["model"]["weights_sha256"] == hashlib.sha256(weights).hexdigest()
    runtime = audit["runtime"]
    assert runtime["name"] in ("onnxruntime", "openvino") and runtime["version"] and runtime["chunk"] >= 1
    assert runtime["used_for"] == "every forward pass"

    refused = submit(client, upload.png, model="tiny_onnx", method="gradcam")
    assert refused.status_code == 422 and refused.json()["field"] == "method", refused.text
