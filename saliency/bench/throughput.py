"""Every runtime's forward rate against the method's query rate, with peak memory, in one run.

For the model on the device: bare forward passes of random inputs on each runtime that can run
it here (torch; ONNX Runtime; OpenVINO on a CPU when installed), each at its own measured chunk;
the method on the runtime the model would use ($SALIENCY_RUNTIME as set, `auto` by default),
`chains` side by side; and bare forward passes in that same setting at the method's chunk, the
memory yardstick. The ratio divides the method's queries/s by the fastest runtime's images/s, so
a slow runtime choice shows as a low ratio, as mask work does. Every phase runs in a process of
its own (saliency.bench.phase); the phases alternate `rounds` times and each keeps its best rate
and its highest peak, so load drift hits all alike.
"""
from __future__ import annotations

import importlib.util
from typing import Any

import torch

from saliency.bench.phase import measure_in_child
from saliency.catalog.options import OiseParams


def choices(device: str) -> list[str]:
    """The runtimes worth trying on this device ($SALIENCY_RUNTIME values)."""
    out = ["torch"]
    if importlib.util.find_spec("onnxruntime") is not None:
        out.append("onnx")
    if device == "cpu" and importlib.util.find_spec("openvino") is not None:
        out.append("openvino")
    return out


def _endpoint(model: str) -> dict[str, Any] | None:
    """A remote model's endpoint as the report names it (no secrets); None for a local model."""
    from saliency.models import get_spec

    ep = get_spec(model).remote
    if ep is None:
        return None
    wire = "JSON" if ep.protocol == "v1" or (ep.protocol == "v2" and not ep.binary) else "binary"
    return {"endpoint": ep.where, "protocol": ep.protocol, "tensors": wire, "max_batch": ep.max_batch,
            "in_flight": ep.in_flight}


def method_params(method: str, chains: int, steps: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the measured run's params, a one-step warm-up's). OISE: `chains` side by side for `steps`
    steps; RISE: `chains` masks per forward pass."""
    size = {"chains": chains} if method == "oise" else {"batch_size": chains}
    return {**size, "queries": chains * steps}, {**size, "queries": chains}


def throughput(model: str, device: str, method: str = "oise", chains: int | None = None, steps: int = 2,
               rounds: int = 2, chunk: int | None = None, seconds: float = 5.0) -> dict[str, Any]:
    """The figures of one run; `chunk` forces every runtime's batch (default: each one's measured)."""
    chains = chains or (OiseParams().chains if method == "oise" else 64)
    params, warm_up = method_params(method, chains, steps)
    common = {"model": model, "device": device, "threads": torch.get_num_threads(), "seconds": seconds}
    remote = _endpoint(model)  # a remote model's one runtime is its endpoint: the same requests, no masks
    forward: dict[str, list[dict[str, Any]]] = {c: [] for c in (["remote"] if remote else choices(device))}
    not_run: dict[str, str] = {}
    meth, same = [], []
    for _ in range(rounds):
        meth.append(measure_in_child(None, **common, phase="method", method=method, params=params,
                                     warm_up=warm_up, chunk=chunk))
        same.append(measure_in_child(None, **common, phase="forward", chunk=meth[-1]["chunk"]))
        for choice in forward:
            if choice in not_run:
                continue
            try:
                forward[choice].append(measure_in_child(None if remote else choice, **common, phase="forward",
                                                        chunk=chunk))
            except RuntimeError as exc:
                not_run[choice] = str(exc)
    rows = [_best(runs) for runs in forward.values() if runs]
    best_method, yardstick = _best(meth), _best(same)
    fastest = max(rows, key=lambda r: r["rate"])
    return {"model": model, "device": _device_name(device), "torch": torch.__version__, "method": method,
            "params": params, "runtimes": rows, "not_run": not_run, "method_run": best_method,
            "forward_same_setting": yardstick, "fastest_runtime": fastest["runtime"],
            "ratio": best_method["rate"] / fastest["rate"], **({"remote": remote} if remote else {})}


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest run's figures, with the highest peak of all (memory is not a race)."""
    top = max(runs, key=lambda r: r["rate"])
    worst = max(runs, key=lambda r: r["peak_mib"])
    return {**top, "peak_mib": worst["peak_mib"], "added_mib": worst["added_mib"]}


def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"cpu x{torch.get_num_threads()} threads"
