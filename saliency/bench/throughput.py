"""Model forward throughput vs the method's query throughput, measured in the same run.

The ratio says what the method adds on top of the model: 1.0 means mask work is free.
"""
from __future__ import annotations

import resource
import time
from typing import Any

import torch

from saliency.methods import get_method
from saliency.models import LoadedModel


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def forward_rate(model: LoadedModel, batch: int, seconds: float) -> float:
    """Images per second of the bare model (softmax included) on random inputs of its size."""
    h, w = model.spec.input_size
    x = torch.randn(batch, 3, h, w, device=model.device)
    with torch.inference_mode():
        model(x)  # warm-up: allocators, cudnn autotune
        _sync(model.device)
        n, start = 0, time.perf_counter()
        while n == 0 or time.perf_counter() - start < seconds:
            model(x)
            n += 1
        _sync(model.device)
    return n * batch / (time.perf_counter() - start)


def method_rate(model: LoadedModel, method: str, batch: int, steps: int) -> float:
    """Queries per second of `method` with `batch` masks per forward pass on one random image."""
    h, w = model.spec.input_size
    x = torch.randn(1, 3, h, w, device=model.device)
    spec = get_method(method)
    size_key = "chains" if method == "oise" else "batch_size"
    params = spec.parse_params({"queries": batch * steps, size_key: batch})
    target = torch.tensor([0], device=model.device)
    spec.fn(model, x, target, spec.parse_params({"queries": batch, size_key: batch}))  # warm-up
    _sync(model.device)
    start = time.perf_counter()
    out = spec.fn(model, x, target, params)
    _sync(model.device)
    return out.queries / (time.perf_counter() - start)


def _peak_mb(device: torch.device) -> float:
    """Peak memory so far: the device's allocator on CUDA, the process's resident set on a CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def throughput(model: LoadedModel, method: str = "oise", batch: int = 64, steps: int = 5,
               rounds: int = 3) -> dict[str, Any]:
    """Alternate the two measurements `rounds` times and keep each one's best, so that drift in the
    machine's load hits both sides alike. Memory is read around the first method run, before any
    bare forward pass of `batch` images (which OISE's chunking may never reach) raises the peak."""
    fwd, meth = [], []
    if model.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(model.device)
    idle = _peak_mb(model.device)
    for _ in range(rounds):
        start = time.perf_counter()
        meth.append(method_rate(model, method, batch, steps))
        if not fwd:
            method_peak = _peak_mb(model.device)
        fwd.append(forward_rate(model, batch, seconds=time.perf_counter() - start))
    device = model.device
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu x{torch.get_num_threads()} threads"
    return {
        "model": model.name, "method": method, "batch": batch, "steps": steps, "device": name,
        "forward_images_per_s": max(fwd), "method_queries_per_s": max(meth),
        "ratio": max(meth) / max(fwd), "torch": torch.__version__,
        "peak_mb_before": idle, "peak_mb_method": method_peak,
    }
