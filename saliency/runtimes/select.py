"""Which runtime runs a model's black-box forward passes: the fastest one verified equal to torch.

`auto` (the default): on a CPU the network is exported to ONNX once (saliency.runtimes.export),
ONNX Runtime is checked against eager torch on a fixed batch, and the faster of the two (each
timed at its own best chunk: saliency.runtimes.calibrate) is used; if the export or the check
fails, the reason is logged and torch stays. On a GPU `auto` is eager torch until the GPU
benchmark (DEVELOPERS.md) shows another path is faster and equal. OpenVINO is never picked by
`auto`: although faster than ONNX Runtime on EfficientNet-Lite0 here, its idle threads slow the
torch code of the same process (docs/benchmarks.md, Runtimes). `torch`, `onnx` (ONNX Runtime) and `openvino`
force one: one that cannot run or fails the check is an error, not a silent fallback. A user's
.onnx file has no torch network: its engines are checked against ONNX Runtime instead.

Precedence: a model's `runtime` key in the models file, else $SALIENCY_RUNTIME, else `auto`.
"""
from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from saliency.errors import ModelUnavailable
from saliency.runtimes.base import CHOICES, ENGINE, RUNTIME_ENV, Runtime, record
from saliency.runtimes.calibrate import calibrate
from saliency.runtimes.export import TOLERANCE, Cache, export, max_difference
from saliency.runtimes.onnx_engines import OnnxRuntime, OpenVinoRuntime
from saliency.runtimes.onnx_file import load_classifier
from saliency.runtimes.torch_runtime import TorchRuntime

if TYPE_CHECKING:
    from saliency.models.spec import LoadedModel

log = logging.getLogger("saliency.runtimes")
ENGINE_OF = {engine: choice for choice, engine in ENGINE.items()}  # Runtime.name -> choice


@dataclass
class Candidate:
    runtime: Runtime
    max_prob_diff: float | None = None  # against the reference; None for the reference itself
    images_per_s: float = 0.0

    @property
    def verified(self) -> bool:
        return self.max_prob_diff is None or self.max_prob_diff <= TOLERANCE


def requested(net: LoadedModel) -> str:
    want = net.spec.runtime or os.environ.get(RUNTIME_ENV) or "auto"
    if want not in CHOICES:
        raise ModelUnavailable(f"{RUNTIME_ENV} (or the model's runtime key) is {want!r}; "
                               f"choose one of {', '.join(CHOICES)}")
    return want


def cache_of(net: LoadedModel) -> Cache:
    return Cache(net.spec.weights_file(), net.weights_sha256, net.spec.input_size, net.logits)


def engines_for(want: str, device: torch.device) -> tuple[str, ...]:
    """The ONNX engines to build for a choice: `auto` tries ONNX Runtime on a CPU only."""
    if want == "auto":
        return ("onnxruntime",) if device.type == "cpu" else ()
    return () if want == "torch" else (ENGINE[want],)


def candidates(net: LoadedModel, engines: tuple[str, ...]) -> tuple[list[Candidate], list[str]]:
    """The runtimes that can run `net` here, each checked against the reference, and why others
    could not: torch and the named engines (for an .onnx file: ONNX Runtime and the named ones)."""
    dev, size = net.device, net.spec.input_size
    if net.module is None:  # the user's own .onnx file: ONNX Runtime is the reference
        path = net.spec.weights_file()
        ort = load_classifier(path, net.name, size, len(net.labels), dev, net.logits)
        found, why = _openvino(net, path, net.logits, ort) if "openvino" in engines else ([], [])
        return [Candidate(ort), *found], why
    reference = TorchRuntime(net.module, net.logits, dev)
    if not engines:
        return [Candidate(reference)], []
    cache = cache_of(net)
    try:
        fresh = not cache.onnx.exists()
        ort = _checked_ort(net, cache, reference)
        if not ort.verified and not fresh:  # a stale or damaged cache entry: export once more
            cache.drop()
            ort = _checked_ort(net, cache, reference)
    except Exception as exc:  # noqa: BLE001 - export and engines fail in many ways; each is a reason
        return [Candidate(reference)], [f"ONNX export or ONNX Runtime failed ({_first_line(exc)})"]
    found, why = _openvino(net, cache.onnx, False, reference) if "openvino" in engines else ([], [])
    return [Candidate(reference), *([ort] if "onnxruntime" in engines else []), *found], why


def _checked_ort(net: LoadedModel, cache: Cache, reference: Runtime) -> Candidate:
    path = export(net.module, net.logits, net.spec.input_size, cache)
    # The exported graph ends in its own softmax (saliency.runtimes.export.Probabilities).
    ort = Candidate(OnnxRuntime(path, net.device, False, len(net.labels)))
    ort.max_prob_diff = max_difference(ort.runtime, reference, net.spec.input_size, net.device)
    return ort


def _openvino(net: LoadedModel, path: Path, logits: bool, reference: Runtime) -> tuple[list[Candidate], list[str]]:
    """OpenVINO on the same file, checked against `reference` (CPU only)."""
    try:
        ov = Candidate(OpenVinoRuntime(path, logits))
        ov.max_prob_diff = max_difference(ov.runtime, reference, net.spec.input_size, net.device)
    except Exception as exc:  # noqa: BLE001
        return [], [f"OpenVINO failed ({_first_line(exc)})"]
    return [ov], []


def choose(net: LoadedModel) -> tuple[Runtime, dict[str, Any]]:
    """The runtime for `net`'s black-box forward passes, and its audit record."""
    want = requested(net)
    if net.module is None and want == "torch":
        raise ModelUnavailable(f"model {net.name!r} is an ONNX file, which torch cannot run; "
                               "its runtime must be auto, onnx or openvino")
    if want == "openvino" and (net.device.type != "cpu" or importlib.util.find_spec("openvino") is None):
        raise ModelUnavailable(f"model {net.name!r}: runtime openvino needs the CPU and the openvino "
                               f"package (device {net.device})")
    found, why = candidates(net, engines_for(want, net.device))
    for c in found:
        if not c.verified:
            why.append(f"{c.runtime.name} differs from {'torch' if net.module is not None else 'onnxruntime'} "
                       f"by {c.max_prob_diff:.2g} in probability (tolerance {TOLERANCE:g})")
    pool = [c for c in found if c.verified and want in ("auto", ENGINE_OF[c.runtime.name])]
    if not pool:
        raise ModelUnavailable(f"model {net.name!r}: runtime {want} cannot run here: {'; '.join(why)}")
    if why:
        log.warning("model %s: %s; using the others", net.name, "; ".join(why))
    rates = calibrate([c.runtime for c in pool], net.spec.input_size, net.device, cache_of(net))
    for c, rate in zip(pool, rates):
        c.images_per_s = rate
    best = max(pool, key=lambda c: c.images_per_s)
    compared = ", ".join(f"{c.runtime.name} {c.images_per_s:.1f}" for c in pool)
    log.info("model %s on %s: %s (images/s at each one's chunk: %s)", net.name, net.device, best.runtime.name, compared)
    return best.runtime, record(best.runtime, requested=want, images_per_s=round(best.images_per_s, 2),
                                max_prob_diff=best.max_prob_diff, compared=compared, notes=why)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:200]}" if text else type(exc).__name__
