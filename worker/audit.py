"""What a worker records on each job so that it can be audited and run again to the same map:
the model's identity (a hash of its weights), the code and library versions, the worker and
device. Stored in the job's meta as `audit`; the core adds the request and timings (jobs.audit).
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import socket
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

import saliency
from saliency.models import LoadedModel, load_model

PACKAGES = ("torch", "torchvision", "numpy", "pillow", "captum", "saliency-service")


@lru_cache
def versions() -> dict[str, str]:
    """Python, the libraries a map depends on, and a hash of the saliency/ sources (the package
    version alone does not change with each commit)."""
    import torchvision  # the worker has it loaded already

    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "absent"
    # The builds' own strings carry the CUDA variant (2.14.1+cu130), which the metadata drops.
    out["torch"], out["torchvision"] = torch.__version__, torchvision.__version__
    out["saliency_source_sha256"] = source_hash()
    return out


def source_hash() -> str:
    root = Path(saliency.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


_weights: dict[int, str] = {}  # id(module) -> hash: a loaded model stays loaded (per-process cache)


def weights_hash(net: LoadedModel) -> str:
    """SHA-256 over every parameter and buffer (names and raw bytes, state_dict order): the same
    for the same weights however they were loaded (TorchScript, torch.export, torchvision)."""
    key = id(net.module)
    if key not in _weights:
        digest = hashlib.sha256()
        for name, tensor in net.module.state_dict().items():
            flat = tensor.detach().to("cpu").contiguous().reshape(-1)
            digest.update(f"{name}:{flat.dtype}:{tuple(tensor.shape)}\0".encode())
            digest.update(flat.view(torch.uint8).numpy().tobytes())
        _weights[key] = digest.hexdigest()
    return _weights[key]


def model_identity(name: str) -> dict[str, Any] | None:
    """Loads the model (as the job is about to: the cache makes it free). None when it cannot
    load; the job then fails with the library's own message."""
    try:
        net = load_model(name)
    except Exception:  # noqa: BLE001 - reported by the job itself
        return None
    return {"name": net.name, "source": net.spec.source, "description": net.spec.description,
            "weights_sha256": weights_hash(net),
            "parameters": sum(p.numel() for p in net.module.parameters()),
            "device": str(net.device)}


def start(model: str, worker_name: str | None) -> dict[str, Any]:
    """The record a job starts with."""
    identity = model_identity(model)
    device = identity["device"] if identity else None
    if device and device.startswith("cuda"):
        device = f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return {"model": identity, "versions": versions(), "worker": worker_name,
            "host": socket.gethostname(), "device": device}


def finish(record: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    """Add what only the finished explanation knows: the options it ran with, the class, queries."""
    metric_queries = sum(int(m.get("queries", 0)) for m in (summary.get("metrics") or {}).values())
    return {**record, "params": summary.get("params"), "target": summary.get("target", {}).get("index"),
            "queries": {"method": summary["queries"], "metrics": metric_queries,
                        "total": summary["queries"] + metric_queries}}
