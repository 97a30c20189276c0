"""Peak memory of one phase (bare forward passes, or one step of a method) in a process of its own.

In one process, the pools that an engine or an allocator keeps after a phase (ONNX Runtime's
arena, glibc's heap, the CUDA caching allocator) would count towards the next phase's peak, so
each phase runs in a child: `python -m saliency.bench.memory '<json>'` prints its figures as JSON.
On a CPU the peak is the process's peak resident set (VmHWM, reset before the phase); on CUDA
the caching allocator's peak (memory of other engines on the GPU, e.g. ONNX Runtime's, is not seen).
"""
from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

PHASES = ("forward", "method")


def _vm(field: str) -> float:
    """A /proc/self/status figure, in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:  # "5": reset the peak resident set (Linux >= 4.0)
        f.write("5")


def run_phase(spec: dict[str, Any]) -> dict[str, float]:
    """Load the model as the parent did, put the runtime named `spec["runtime"]` in charge, then
    measure the phase. Every child starts from the same state: its load ran the same check and
    read the same cached chunks, whatever the runtime measured."""
    import torch

    from saliency.methods import get_method
    from saliency.models import load_model
    from saliency.runtimes.select import candidates

    torch.set_num_threads(spec["threads"])
    net = load_model(spec["model"], device=spec["device"])
    found, _ = candidates(net, engines=True)
    net.runtime = next(c.runtime for c in found if c.runtime.name == spec["runtime"])
    net.runtime.chunk = spec["chunk"]
    h, w = net.spec.input_size
    cuda = net.device.type == "cuda"
    if spec["phase"] == "forward":
        x = torch.randn(spec["chunk"], 3, h, w, device=net.device)

        def phase() -> None:
            for _ in range(2):
                net(x)
    else:
        method = get_method(spec["method"])
        params = method.parse_params(spec["params"])
        image = torch.randn(1, 3, h, w, device=net.device)

        def phase() -> None:
            method.fn(net, image, torch.tensor([0], device=net.device), params)
    if cuda:
        torch.cuda.synchronize(net.device)
        torch.cuda.reset_peak_memory_stats(net.device)
        before = torch.cuda.memory_allocated(net.device) / 2**20
    else:
        _reset_peak()
        before = _vm("VmRSS")
    phase()
    peak = torch.cuda.max_memory_allocated(net.device) / 2**20 if cuda else _vm("VmHWM")
    return {"peak_mib": round(peak, 1), "added_mib": round(peak - before, 1), "runtime": net.runtime.name}


def measure_in_child(model: str, device: str, runtime: str, phase: str, chunk: int, threads: int,
                     method: str = "oise", params: dict[str, Any] | None = None) -> dict[str, float]:
    """`run_phase` in a fresh interpreter; `runtime` is a Runtime.name (torch, onnxruntime, ...)."""
    spec = {"model": model, "device": device, "runtime": runtime, "phase": phase, "chunk": chunk,
            "threads": threads, "method": method, "params": params or {}}
    out = subprocess.run([sys.executable, "-m", "saliency.bench.memory", json.dumps(spec)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"the {phase} memory run on {runtime} failed: {out.stderr.strip()[-500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    print(json.dumps(run_phase(json.loads(sys.argv[1]))))
