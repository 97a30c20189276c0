"""Ways to run a network's forward pass on one device, compared.

For each model and batch size: fp32 eager (the reference), channels_last with bf16 or fp16
autocast, ONNX Runtime (the CUDA provider on a GPU, where onnxruntime-gpu is installed) and
torch.compile; images per second of bare forward passes. Then the fastest variant's OISE maps
against fp32 eager's on a few pictures (Pearson per picture): a variant is adoptable only where
every picture reaches `min_pearson`. Written for a GPU (DEVELOPERS.md, "On a GPU"); on a CPU with
tiny settings it is the smoke test of itself. The command is saliency_cli/variants.py.

A model whose weights are absent here (torchvision's ResNet50 on a machine without a network)
runs with random weights: right for speed, and said so in the output, since its maps then
explain noise.
"""
from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from saliency.bench.phase import timed
from saliency.methods import get_method
from saliency.runtimes.base import softmax_if
from saliency.runtimes.torch_runtime import TorchRuntime

VARIANTS = ("eager", "channels_last_bf16", "channels_last_fp16", "onnxruntime", "compile")


class Autocast:
    """channels_last weights and inputs, matmuls and convolutions in `dtype` (torch.autocast)."""

    def __init__(self, module: nn.Module, logits: bool, device: torch.device, dtype: torch.dtype) -> None:
        self.module = copy.deepcopy(module).to(memory_format=torch.channels_last)  # eager keeps its own
        self.logits, self.device, self.dtype = logits, device, dtype

    def run(self, images: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=self.dtype):
            out = self.module(images.contiguous(memory_format=torch.channels_last))
        return softmax_if(self.logits, out.float())


def network(name: str, device: torch.device) -> tuple[nn.Module, tuple[int, int], bool, int, str]:
    """(module on device, input size, logits?, classes, note) for a registry name."""
    import torchvision

    from saliency.models import get_spec

    spec = get_spec(name)
    if spec.missing() is None:
        module, note = spec.build(), ""
    else:  # a torchvision classifier whose weights this machine lacks
        module, note = torchvision.models.get_model(name, weights=None).eval(), "random weights"
    return module.to(device), spec.input_size, spec.output == "logits", len(spec.labels()), note


def build(variant: str, module: nn.Module, size: tuple[int, int], logits: bool, classes: int,
          device: torch.device, cache: Path) -> tuple[Any, float]:
    """(runtime, seconds it took to prepare, compiling included)."""
    start = time.perf_counter()
    if variant == "eager":
        rt: Any = TorchRuntime(module, logits, device)
    elif variant.startswith("channels_last_"):
        rt = Autocast(module, logits, device, torch.bfloat16 if variant.endswith("bf16") else torch.float16)
    elif variant == "onnxruntime":
        from saliency.models.identity import weights_hash
        from saliency.runtimes.export import Cache, export
        from saliency.runtimes.onnx_engines import OnnxRuntime

        graph = export(module, logits, size, Cache(cache / "net.pt", weights_hash(module), size, logits))
        rt = OnnxRuntime(graph, device, False, classes)
    elif variant == "compile":
        rt = TorchRuntime(torch.compile(module), logits, device)
        rt.run(torch.zeros(2, 3, *size, device=device))  # compiles here, not in the timing
    else:
        raise ValueError(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}")
    return rt, time.perf_counter() - start


def forward_rate(run: Callable[[torch.Tensor], torch.Tensor], shape: tuple[int, ...], device: torch.device,
                 seconds: float) -> float:
    """Images per second of bare forward passes on random inputs of `shape`."""
    x = torch.randn(*shape, device=device)

    def step() -> int:
        run(x)
        return shape[0]
    return timed(step, step, device, seconds)


def pictures(n: int, size: tuple[int, int], seed: int = 0) -> torch.Tensor:
    """`n` smooth normalised pictures with a bright blob each: something for a map to find."""
    gen = torch.Generator().manual_seed(seed)
    h, w = size
    y, x = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    out = []
    for _ in range(n):
        cy, cx, r = torch.rand(3, generator=gen) * torch.tensor([0.6, 0.6, 0.15]) + torch.tensor([0.2, 0.2, 0.1])
        blob = ((y - cy) ** 2 + (x - cx) ** 2 < r**2).float()
        base = torch.randn(3, 1, 1, generator=gen) * 0.5
        out.append(base + torch.randn(3, h, w, generator=gen) * 0.2 + blob * torch.randn(3, 1, 1, generator=gen))
    return torch.stack(out)


def maps(run: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, queries: int,
         batch: int) -> torch.Tensor:
    """OISE maps (one chunk of `batch` per pass) of each picture's top-1 class under `run`."""
    spec = get_method("oise")
    params = spec.parse_params({"queries": queries, "chains": min(queries, 500), "batch_size": batch})
    targets = run(images).argmax(1)
    return torch.cat([spec.fn(run, images[i:i + 1], targets[i:i + 1], params).maps for i in range(len(images))])


def pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.flatten().double(), b.flatten().double()
    a, b = a - a.mean(), b - b.mean()
    return float((a @ b) / (a.norm() * b.norm()).clamp_min(1e-12))


def compare(name: str, device: torch.device, variants: list[str], batches: list[int], seconds: float,
            images: int, queries: int, min_pearson: float, cache: Path) -> dict[str, Any]:
    module, size, logits, classes, note = network(name, device)
    rows, runtimes = [], {}
    for variant in variants:
        try:
            rt, prepare = build(variant, module, size, logits, classes, device, cache)
        except Exception as exc:  # noqa: BLE001 - a variant that cannot run here is a row, not a crash
            rows.append({"variant": variant, "error": f"{type(exc).__name__}: {str(exc)[:200]}"})
            continue
        runtimes[variant] = rt
        rates: dict[str, Any] = {}
        for b in batches:
            try:
                rates[str(b)] = round(forward_rate(rt.run, (b, 3, *size), device, seconds), 1)
            except torch.cuda.OutOfMemoryError:
                rates[str(b)] = "out of memory"
                torch.cuda.empty_cache()
        rows.append({"variant": variant, "prepare_s": round(prepare, 1), "images_per_s": rates})
    ran = [r for r in rows if "images_per_s" in r]
    best = max(ran, key=lambda r: max((v for v in r["images_per_s"].values() if isinstance(v, float)), default=0))
    best_batch = max((int(b) for b, v in best["images_per_s"].items() if isinstance(v, float)),
                     key=lambda b: best["images_per_s"][str(b)])
    x = pictures(images, size).to(device)
    reference = maps(runtimes["eager"].run, x, queries, best_batch)
    fastest = maps(runtimes[best["variant"]].run, x, queries, best_batch)
    r = [round(pearson(a, b), 4) for a, b in zip(reference, fastest)]
    return {"model": name, "note": note, "input_size": list(size), "rows": rows,
            "fastest": best["variant"], "fastest_batch": best_batch, "pearson_vs_eager": r,
            "adoptable": min(r) >= min_pearson}
