"""What identifies a loaded network's weights: for the audit, and as the runtime cache's key."""
from __future__ import annotations

import hashlib
import math
from pathlib import Path

import torch
from torch import nn


def weights_hash(module: nn.Module) -> str:
    """SHA-256 over every parameter and buffer (names and raw bytes, state_dict order): the same
    for the same weights however they were loaded (TorchScript, torch.export, torchvision)."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        flat = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{name}:{flat.dtype}:{tuple(tensor.shape)}\0".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def file_hash(path: Path) -> str:
    """SHA-256 of a file's bytes: an ONNX model's identity (its weights are inside)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def onnx_parameters(path: Path) -> int:
    """Elements of the graph's initialisers: what an ONNX file holds as weights."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return sum(math.prod(t.dims) for t in graph.initializer)
