"""A whole `saliency explain` process against eager torch's bare forward passes, in one run.

The explanation is what a user waits for: interpreter start, imports, model load, runtime choice
(the export and calibration on the first run, read from the cache afterwards), the method and the
files. It runs as `python -m saliency_cli explain` with a fresh runtime cache, `runs` times: the
first pays the export, the next ones show a warm cache. The yardstick, measured in this process:
eager torch's bare forward passes over the same number of images at `batch` images per pass.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from saliency.models import default_device, get_spec
from saliency.runtimes.torch_runtime import TorchRuntime


def synthetic_photo(path: Path, seed: int = 0) -> Path:
    """A 400 x 300 picture with some structure: what it shows does not change the time."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:300, :400] / 100.0
    img = np.stack([np.sin(x * 3 + c) * np.cos(y * 2 - c) for c in range(3)], axis=-1)
    img = (img * 0.4 + 0.5 + rng.normal(0, 0.05, img.shape)).clip(0, 1)
    Image.fromarray((img * 255).astype(np.uint8)).save(path)
    return path


def time_explain(image: Path, model: str, queries: int, out: Path, env: dict[str, str]) -> dict[str, Any]:
    """Wall time of one `saliency explain` process, and what it reported."""
    cmd = [sys.executable, "-m", "saliency_cli", "explain", str(image), "--model", model,
           "--queries", str(queries), "--out", str(out)]
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"saliency explain failed: {done.stderr.strip()[-500:]}")
    result = json.loads((out / "result.json").read_text())
    return {"seconds": round(seconds, 2), "method_seconds": round(result["seconds"], 2),
            "runtime": result["runtime"], "queries": result["queries"]}


def torch_forward_seconds(model: str, images: int, batch: int, device: str | None) -> float:
    """Seconds eager torch takes for `images` bare forward passes at `batch` images per pass."""
    spec = get_spec(model)  # the network alone: no runtime is chosen (no export) for the yardstick
    dev = torch.device(device) if device else default_device()
    rt = TorchRuntime(spec.build().to(dev), spec.output == "logits", dev)
    x = torch.randn(batch, 3, *spec.input_size, device=dev)
    rt.run(x[:2])  # warm-up
    start, left = time.perf_counter(), images
    while left > 0:
        rt.run(x[:min(batch, left)])
        left -= batch
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    return time.perf_counter() - start


def end_to_end(model: str, queries: int = 2000, batch: int = 250, runs: int = 2,
               device: str | None = None, image: Path | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        photo = image or synthetic_photo(folder / "photo.png")
        # torch reads OMP_NUM_THREADS at start; the ONNX engines follow torch's thread count
        env = {**os.environ, "SALIENCY_RUNTIME_CACHE": str(folder / "cache"),
               "OMP_NUM_THREADS": str(torch.get_num_threads())}
        if device:
            env["SALIENCY_DEVICE"] = device
        explained = [time_explain(photo, model, queries, folder / f"out{i}", env) for i in range(runs)]
    eager = torch_forward_seconds(model, queries, batch, device)
    best = min(r["seconds"] for r in explained)
    return {"model": model, "queries": queries, "batch": batch, "threads": torch.get_num_threads(),
            "explain_runs": explained, "torch_forward_seconds": round(eager, 4),
            "ratio_warm": round(best / eager, 3), "ratio_first": round(explained[0]["seconds"] / eager, 3)}
