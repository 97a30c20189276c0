"""A KServe ModelServer for the tests and the remote benchmark. It runs in its own virtualenv
(`make kserve-venv`: requirements/kserve.txt), so it imports nothing of this project: the tiny
CNN's forward pass is written here in numpy, from weights the fixture exports (`.npz`).

    .venv-kserve/bin/python tests/support/kserve/server.py --http_port 8080 --grpc_port 8081
    with $KSERVE_TEST_MODELS naming a JSON file: {"weights": "tiny.npz", "models": [{...}, ...]}

Each model entry: `name`; `layout` NCHW|NHWC; `datatype` FP32|UINT8; `scale` normalized|unit|pixels
(what an FP32 input holds; the model normalises itself otherwise); `mean`, `std`; `output`
logits|probabilities; `behaviour`: ok, slow (sleeps `seconds` per request), flaky (answers
503 / UNAVAILABLE the first time it sees an input, then answers), wrong_shape (drops a class),
not_ready (loaded, but its readiness check says no: REST 503, gRPC ready = false), null (answers
equal logits without computing anything: a benchmark's endpoint whose cost is all in the protocol).
One process serves V1 and V2 over REST (JSON and binary tensors) and V2 over gRPC.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
from typing import Any

import numpy as np
from kserve import Model, ModelServer
from kserve.errors import InvalidInput, ModelNotReady
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

INPUT, SUB_BATCH = "images", 8  # sub-batches bound the memory of the im2col buffers at 224 px


class Unavailable(ModelNotReady):
    """KServe's ModelNotReady (REST 503, gRPC UNAVAILABLE); its gRPC handler reads `reason`,
    which kserve 0.21's class lacks."""

    def __init__(self, model: str, detail: str) -> None:
        super().__init__(model, detail)
        self.reason = self.error_msg


def conv3x3(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Same-padded 3x3 convolution, (N, C, H, W) -> (N, O, H, W), as one matrix product."""
    n, c, h, wd = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    cols = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(2, 3))  # n, c, h, w, 3, 3
    cols = cols.transpose(0, 2, 3, 1, 4, 5).reshape(n * h * wd, c * 9)
    out = cols @ w.reshape(w.shape[0], -1).T + b
    return out.reshape(n, h, wd, -1).transpose(0, 3, 1, 2)


def tiny_cnn(x: np.ndarray, p: dict[str, np.ndarray]) -> np.ndarray:
    """saliency.models.tiny.TinyCNN's forward pass: normalised (N, 3, H, W) -> logits."""
    relu = lambda a: np.maximum(a, 0)  # noqa: E731
    h = relu(conv3x3(x, p["features.0.weight"], p["features.0.bias"]))
    h = relu(conv3x3(h, p["features.2.weight"], p["features.2.bias"]))
    n, c, hh, ww = h.shape
    h = h[:, :, :hh // 2 * 2, :ww // 2 * 2].reshape(n, c, hh // 2, 2, ww // 2, 2).max(axis=(3, 5))
    h = relu(conv3x3(h, p["features.5.weight"], p["features.5.bias"]))
    return h.max(axis=(2, 3)) @ p["head.weight"].T + p["head.bias"]


class TinyModel(Model):
    def __init__(self, spec: dict[str, Any], weights: dict[str, np.ndarray]) -> None:
        super().__init__(spec["name"])
        self.spec, self.weights, self.seen = spec, weights, set()
        self.mean = np.asarray(spec.get("mean", [0.5, 0.5, 0.5]), np.float32).reshape(1, 3, 1, 1)
        self.std = np.asarray(spec.get("std", [0.25, 0.25, 0.25]), np.float32).reshape(1, 3, 1, 1)
        self.ready = True

    async def healthy(self) -> bool:
        """What KServe's model-ready routes ask (the server itself stays ready)."""
        return self.spec.get("behaviour") != "not_ready"

    def _shape(self) -> list[int]:
        s = self.spec.get("size", 32)
        return [-1, 3, s, s] if self.spec.get("layout", "NCHW") == "NCHW" else [-1, s, s, 3]

    def get_input_types(self) -> list[dict[str, Any]]:
        return [{"name": INPUT, "datatype": self.spec.get("datatype", "FP32"), "shape": self._shape()}]

    def get_output_types(self) -> list[dict[str, Any]]:
        return [{"name": self.spec.get("output", "logits"), "datatype": "FP32", "shape": [-1, 4]}]

    def forward(self, batch: np.ndarray) -> np.ndarray:
        if self.spec.get("behaviour") == "null":
            return np.zeros((len(batch), 4), np.float32)
        x = batch.transpose(0, 3, 1, 2) if self.spec.get("layout", "NCHW") == "NHWC" else batch
        x = x.astype(np.float32)
        scale = "pixels" if self.spec.get("datatype") == "UINT8" else self.spec.get("scale", "normalized")
        if scale != "normalized":  # the served model normalises its own input
            x = ((x / 255 if scale == "pixels" else x) - self.mean) / self.std
        out = np.concatenate([tiny_cnn(x[i:i + SUB_BATCH], self.weights) for i in range(0, len(x), SUB_BATCH)])
        if self.spec.get("output") == "probabilities":
            out = np.exp(out - out.max(axis=1, keepdims=True))
            out = out / out.sum(axis=1, keepdims=True)
        return (out[:, :-1] if self.spec.get("behaviour") == "wrong_shape" else out).astype(np.float32)

    async def misbehave(self, batch: np.ndarray) -> None:
        behaviour = self.spec.get("behaviour", "ok")
        if behaviour == "slow":
            await asyncio.sleep(float(self.spec.get("seconds", 2.0)))
        elif behaviour == "flaky":
            key = hashlib.sha256(batch.tobytes()).hexdigest()
            if key not in self.seen:
                self.seen.add(key)
                raise Unavailable(self.name, "flaky on purpose: the first sight of an input fails")

    async def predict(self, payload: Any, headers: dict[str, str] | None = None,
                      response_headers: dict[str, str] | None = None) -> Any:
        if isinstance(payload, InferRequest):
            tensor = payload.inputs[0]
            if tensor.name != INPUT:
                raise InvalidInput(f"unknown input {tensor.name!r}; this model's input is {INPUT!r}")
            batch = tensor.as_numpy()
            await self.misbehave(batch)
            out = await asyncio.to_thread(self.forward, batch)  # numpy frees the GIL: requests overlap
            output = InferOutput(name=self.spec.get("output", "logits"), shape=list(out.shape), datatype="FP32",
                                 data=None if payload.from_grpc else out)
            if payload.from_grpc:  # kserve 0.21's to_grpc tests a numpy `data` for truth: give it raw bytes
                output.set_data_from_numpy(out, binary_data=True)
            return InferResponse(response_id=payload.id or "", model_name=self.name, infer_outputs=[output],
                                 from_grpc=payload.from_grpc, use_binary_outputs=payload.use_binary_outputs,
                                 requested_outputs=payload.request_outputs)
        instances = payload["instances"]
        if instances and isinstance(instances[0], dict):
            instances = [i[INPUT] for i in instances]
        batch = np.asarray(instances, dtype=np.uint8 if self.spec.get("datatype") == "UINT8" else np.float32)
        await self.misbehave(batch)
        return {"predictions": (await asyncio.to_thread(self.forward, batch)).tolist()}


def main() -> None:
    config = json.loads(open(os.environ["KSERVE_TEST_MODELS"]).read())
    weights = {k: v.astype(np.float32) for k, v in np.load(config["weights"]).items()}
    models = [TinyModel(spec, weights) for spec in config["models"]]
    ModelServer(workers=1, enable_grpc=True).start(models)


if __name__ == "__main__":
    sys.exit(main())
