"""The forward chunk of each runtime on its device, by measurement.

On a CPU, eager torch runs EfficientNet-Lite0 2.6 times slower per image at 256 images per pass
than at 16 (docs/benchmarks.md), while a GPU wants hundreds; no constant suits both. Batches of
1, 2, 4, ... images are timed until three doublings in a row gain under 3% (timings on a shared
machine are noisy), or one pass takes too long; a runtime's chunk is the largest batch tried within 5% of its best rate: as fast as the
best, and the caller's own work per pass (OISE builds each chunk's masks) spread over more images. The runtimes being compared are timed in turn at each batch size, so that a change in
the machine's load hits them alike. Results are kept in the model's cache manifest, per set of
runtimes, device and thread count: delete the manifest (saliency.runtimes.export) to measure again.
"""
from __future__ import annotations

import logging
import time

import torch

from saliency.runtimes.base import Runtime
from saliency.runtimes.export import Cache

log = logging.getLogger("saliency.runtimes")

FORMAT = 3  # bump when the measurement or the pick changes, so cached chunks are measured again
PATIENCE = 3  # doublings without a 3% gain before a runtime's search stops
MAX_CHUNK = 512
MIN_SECONDS = 0.2  # timed per batch size, after one warm-up pass
MAX_PASS_SECONDS = 3.0  # a batch size slower than this per pass is the last one tried


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rate(rt: Runtime, x: torch.Tensor) -> float:
    """Images per second over at least MIN_SECONDS, after a warm-up pass (allocators, a new shape's plan)."""
    rt.run(x)
    _sync(x.device)
    n, start = 0, time.perf_counter()
    while n == 0 or time.perf_counter() - start < MIN_SECONDS:
        rt.run(x)
        n += 1
    _sync(x.device)
    return n * x.shape[0] / (time.perf_counter() - start)


def measure(runtimes: list[Runtime], input_size: tuple[int, int], device: torch.device,
            max_chunk: int = MAX_CHUNK) -> list[dict[int, float]]:
    """Images per second of each runtime at each batch size tried for it."""
    gen = torch.Generator().manual_seed(0)
    rates: list[dict[int, float]] = [{} for _ in runtimes]
    stale = [0] * len(runtimes)
    b = 1
    while b <= max_chunk and any(s < PATIENCE for s in stale):
        x = torch.randn(b, 3, *input_size, generator=gen).to(device)
        for i, rt in enumerate(runtimes):
            if stale[i] >= PATIENCE:
                continue
            try:
                rate = _rate(rt, x)
            except (torch.cuda.OutOfMemoryError, MemoryError):
                stale[i] = PATIENCE
                continue
            best = max(rates[i].values(), default=0.0)
            rates[i][b] = rate
            stale[i] = 0 if rate > best * 1.03 else stale[i] + 1
            if b / rate > MAX_PASS_SECONDS:
                stale[i] = PATIENCE
        b *= 2
    return rates


def pick(rates: dict[int, float]) -> int:
    """The largest batch within 5% of the best rate."""
    best = max(rates.values())
    return max(b for b, r in rates.items() if r >= 0.95 * best)


def signature(rt: Runtime) -> str:
    return f"{rt.name} {rt.version} {rt.where} threads={torch.get_num_threads()}"


def calibrate(runtimes: list[Runtime], input_size: tuple[int, int], device: torch.device,
              cache: Cache | None) -> list[float]:
    """Set each runtime's `chunk` from the cache or a new measurement; returns their images per
    second at that chunk."""
    key = f"v{FORMAT}: " + " | ".join(signature(rt) for rt in runtimes)
    known = (cache.manifest().get("chunks", {}) if cache else {}).get(key)
    if known is None:
        known = []
        for rt, rates in zip(runtimes, measure(runtimes, input_size, device)):
            chunk = pick(rates)
            known.append({"chunk": chunk, "images_per_s": round(rates[chunk], 2),
                          "measured": {str(b): round(r, 2) for b, r in rates.items()}})
            log.info("%s: chunk %d (%.1f images/s); measured %s", signature(rt), chunk, rates[chunk],
                     known[-1]["measured"])
        if cache is not None:
            cache.update(chunks={**cache.manifest().get("chunks", {}), key: known})
    for rt, entry in zip(runtimes, known):
        rt.chunk = int(entry["chunk"])
    return [float(entry["images_per_s"]) for entry in known]
