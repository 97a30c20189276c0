"""The Runtime protocol: what executes a model's forward pass for black-box methods.

A runtime takes a batch of normalised images, float32 (N, 3, H, W) on the model's device, and
returns the class probabilities, float32 (N, classes), on the same device. It names itself and
its version (each job's audit records them) and says how many images per forward pass it runs
fastest at (`chunk`): measured on the device for local engines (saliency.runtimes.calibrate), or
declared by whatever serves a remote model; and whether it computes on this machine's cores with
threads of its own (`local_pool`: false for torch, which shares torch's pool, and for a remote
model, which leaves the cores idle while it waits). Callers may pass any N; `LoadedModel` splits batches
into chunks, so a runtime never has to.

Implementations: `TorchRuntime` (eager torch, the reference every other one is checked against),
`OnnxRuntime` (ONNX Runtime: CPU provider, CUDA provider where installed), `OpenVinoRuntime`.
Gradient methods never go through a runtime: they need the torch network (`LoadedModel.module`).
"""
from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

import torch

RUNTIME_ENV = "SALIENCY_RUNTIME"
# What a models-file entry or $SALIENCY_RUNTIME may ask for: `onnx` is ONNX Runtime, `openvino`
# OpenVINO (CPU only), both on the network exported to ONNX; `auto` the faster of torch and ONNX
# Runtime that is verified (saliency.runtimes.select).
Choice = Literal["auto", "torch", "onnx", "openvino"]
CHOICES: tuple[str, ...] = ("auto", "torch", "onnx", "openvino")
ENGINE = {"torch": "torch", "onnx": "onnxruntime", "openvino": "openvino"}  # choice -> Runtime.name


@runtime_checkable
class Runtime(Protocol):
    name: str  # the engine: "torch", "onnxruntime", "openvino"
    version: str  # the engine's version
    where: str  # what it runs on: "cpu", "cuda:0", "CUDAExecutionProvider", an endpoint
    chunk: int  # images per forward pass it prefers; 1 or more
    # True when it computes on this machine's cores with a thread pool of its own (ONNX Runtime,
    # OpenVINO): torch's work between its passes then runs on one thread (LoadedModel.black_box).
    local_pool: bool

    def run(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) normalised float32 -> (N, classes) probabilities, on the images' device."""
        ...


def record(runtime: Runtime, **extra: Any) -> dict[str, Any]:
    """The runtime as an audit records it, with what the choice measured (`extra`)."""
    return {"name": runtime.name, "version": runtime.version, "where": runtime.where,
            "chunk": runtime.chunk, **extra}


def softmax_if(logits: bool, out: torch.Tensor) -> torch.Tensor:
    return out.softmax(dim=1) if logits else out
