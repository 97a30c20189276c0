"""Every runtime's forward rate against the method's query rate, with peak memory, in one run.

For the model on the device, every runtime that can run it here (torch; on a CPU also the ONNX
engines, each checked against torch: saliency.runtimes.select) runs bare forward passes of random
inputs at its own measured chunk. The method runs on the runtime the model would use (`auto`, or
$SALIENCY_RUNTIME) with `chains` side by side. The ratio divides the method's queries/s by the
fastest runtime's images/s, so a slow runtime choice shows as a low ratio, as mask work does.
The measurements alternate `rounds` times and each keeps its best, so load drift hits all alike.
Peak memory comes from child processes, one per phase (saliency.bench.memory).
"""
from __future__ import annotations

import time
from typing import Any, Callable

import torch

from saliency.bench.memory import measure_in_child
from saliency.catalog.options import OiseParams
from saliency.methods import get_method
from saliency.models import LoadedModel
from saliency.runtimes.calibrate import calibrate
from saliency.runtimes.select import cache_of, candidates


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def forward_rate(run: Callable[[torch.Tensor], torch.Tensor], shape: tuple[int, ...],
                 device: torch.device, seconds: float) -> float:
    """Images per second of bare forward passes (softmax included) on random inputs of `shape`."""
    x = torch.randn(*shape, device=device)
    run(x)  # warm-up: allocators, cudnn autotune, a new shape's plan
    _sync(device)
    n, start = 0, time.perf_counter()
    while n == 0 or time.perf_counter() - start < seconds:
        run(x)
        n += 1
    _sync(device)
    return n * shape[0] / (time.perf_counter() - start)


def method_params(method: str, chains: int, steps: int, chunk: int | None) -> dict[str, Any]:
    """OISE: `chains` side by side for `steps` steps; RISE: `chains` masks per pass."""
    if method == "oise":
        return {"queries": chains * steps, "chains": chains, "batch_size": chunk}
    return {"queries": chains * steps, "batch_size": chunk or chains}


def method_rate(net: LoadedModel, method: str, params: dict[str, Any], warm_up: dict[str, Any]) -> float:
    """Queries per second of `method` on one random image, after a run with `warm_up` params."""
    h, w = net.spec.input_size
    x = torch.randn(1, 3, h, w, device=net.device)
    spec = get_method(method)
    target = torch.tensor([0], device=net.device)
    spec.fn(net, x, target, spec.parse_params(warm_up))
    _sync(net.device)
    start = time.perf_counter()
    out = spec.fn(net, x, target, spec.parse_params(params))
    _sync(net.device)
    return out.queries / (time.perf_counter() - start)


def throughput(net: LoadedModel, method: str = "oise", chains: int | None = None, steps: int = 2,
               rounds: int = 2, chunk: int | None = None, memory: bool = True) -> dict[str, Any]:
    """The figures of one run; `chunk` forces every runtime's batch (default: each one's measured)."""
    chains = chains or (OiseParams().chains if method == "oise" else 64)
    found, why = candidates(net, engines=True)
    runtimes = [c.runtime for c in found if c.verified]
    calibrate(runtimes, net.spec.input_size, net.device, cache_of(net))  # their chunks (cached)
    chunks = {rt.name: chunk or rt.chunk for rt in runtimes}
    params = method_params(method, chains, steps, chunk)
    one_step = {**params, "queries": chains}
    used = net.runtime.name
    h, w = net.spec.input_size
    fwd: dict[str, list[float]] = {rt.name: [] for rt in runtimes}
    meth: list[float] = []
    for _ in range(rounds):
        start = time.perf_counter()
        meth.append(method_rate(net, method, params, one_step))
        for rt in runtimes:
            fwd[rt.name].append(forward_rate(rt.run, (chunks[rt.name], 3, h, w), net.device,
                                             seconds=min(20.0, (time.perf_counter() - start) / len(runtimes))))
    rows = [{"runtime": rt.name, "version": rt.version, "where": rt.where, "chunk": chunks[rt.name],
             "max_prob_diff": next(c.max_prob_diff for c in found if c.runtime is rt),
             "forward_images_per_s": max(fwd[rt.name])} for rt in runtimes]
    fastest = max(rows, key=lambda r: r["forward_images_per_s"])
    method_chunk = chunk or net.chunk
    res: dict[str, Any] = {
        "model": net.name, "input_size": list(net.spec.input_size), "method": method, "params": params,
        "device": _device_name(net.device), "torch": torch.__version__, "runtimes": rows,
        "not_run": why + [f"{c.runtime.name}: differs from the reference by {c.max_prob_diff:.2g}"
                          for c in found if not c.verified],
        "method_runtime": used, "method_chunk": method_chunk, "method_queries_per_s": max(meth),
        "fastest_runtime": fastest["runtime"], "ratio": max(meth) / fastest["forward_images_per_s"],
    }
    if memory:
        device, threads = str(net.device), torch.get_num_threads()
        for row in rows:
            row["memory"] = measure_in_child(net.name, device, row["runtime"], "forward",
                                             row["chunk"], threads)
        res["method_memory"] = measure_in_child(net.name, device, used, "method", method_chunk,
                                                threads, method, one_step)
        same = next(r for r in rows if r["runtime"] == used)
        res["forward_memory_same_chunk"] = same["memory"] if same["chunk"] == method_chunk else \
            measure_in_child(net.name, device, used, "forward", method_chunk, threads)
    return res


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu x{torch.get_num_threads()} threads"
