"""One measured phase (bare forward passes, or a method's run) in a process of its own.

A phase runs in a fresh interpreter, `python -m saliency.bench.phase '<json>'`, with
$SALIENCY_RUNTIME as the parent sets it, so that only that runtime's engines are loaded (an
engine's idle threads slow another's) and no earlier phase's pools (ONNX Runtime's arena, the
heap, the CUDA caching allocator) count towards this one's peak. It prints one JSON line: the
rate, and the peak memory from just before the phase's warm-up to its end. On a CPU the peak is
the process's resident set (VmHWM, reset before the phase); on CUDA the caching allocator's peak
(memory of other engines on the GPU, e.g. ONNX Runtime's, is not seen).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any, Callable

import torch


def _vm(field: str) -> float:
    """A /proc/self/status figure, in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak(device: torch.device) -> float:
    """Start a new peak; returns what is in use now, in MiB."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        return torch.cuda.memory_allocated(device) / 2**20
    with open("/proc/self/clear_refs", "w") as f:  # "5": reset the peak resident set (Linux >= 4.0)
        f.write("5")
    return _vm("VmRSS")


def _peak(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else _vm("VmHWM")


def timed(fn: Callable[[], int], warm_up: Callable[[], int], device: torch.device, seconds: float) -> float:
    """Items per second of `fn` (which returns how many it did) over at least `seconds`, after
    `warm_up` (allocators, a new shape's plan)."""
    warm_up()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    n, start = 0, time.perf_counter()
    while n == 0 or time.perf_counter() - start < seconds:
        n += fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return n / (time.perf_counter() - start)


def run_phase(spec: dict[str, Any]) -> dict[str, Any]:
    from saliency.methods import get_method
    from saliency.models import load_model

    torch.set_num_threads(spec["threads"])
    net = load_model(spec["model"], device=spec["device"])
    if spec.get("chunk"):
        net.runtime.chunk = spec["chunk"]
    dev, (h, w) = net.device, net.spec.input_size
    if spec["phase"] == "forward":
        x = torch.randn(net.chunk, 3, h, w, device=dev)

        def step() -> int:
            net(x)
            return x.shape[0]
        warm_up = step
    else:
        method = get_method(spec["method"])
        params, short = method.parse_params(spec["params"]), method.parse_params(spec["warm_up"])
        image, target = torch.randn(1, 3, h, w, device=dev), torch.tensor([0], device=dev)

        def step() -> int:
            with net.black_box():  # as explain() runs a black-box method
                return method.fn(net, image, target, params).queries

        def warm_up() -> int:
            with net.black_box():
                return method.fn(net, image, target, short).queries
    before = _reset_peak(dev)
    rate = timed(step, warm_up, dev, spec["seconds"])
    # The kernel folds threads' RSS into the high-water mark lazily: right after the reset it can
    # read below the RSS measured then, so the peak is never taken below that.
    peak = max(_peak(dev), before)
    rec = net.runtime_record
    return {"runtime": rec["name"], "version": rec["version"], "where": rec["where"], "chunk": net.chunk,
            "max_prob_diff": rec.get("max_prob_diff"), "rate": rate, "peak_mib": round(peak, 1),
            "added_mib": round(peak - before, 1)}


def measure_in_child(choice: str | None, **spec: Any) -> dict[str, Any]:
    """`run_phase(spec)` in a fresh interpreter with SALIENCY_RUNTIME=`choice` (None: as it is here).
    Raises RuntimeError with the child's last words when it fails (e.g. a runtime that cannot run)."""
    env = dict(os.environ)
    if choice is not None:
        env["SALIENCY_RUNTIME"] = choice
    out = subprocess.run([sys.executable, "-m", "saliency.bench.phase", json.dumps(spec)], env=env,
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        last = [line for line in out.stderr.strip().splitlines() if line.strip()][-1:] or ["no output"]
        raise RuntimeError(last[0][:300])
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    print(json.dumps(run_phase(json.loads(sys.argv[1]))))
