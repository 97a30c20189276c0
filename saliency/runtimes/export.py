"""The network exported to ONNX once, cached, and checked against torch before it is used.

Cache: `<weights file>.<key>.onnx` beside the weights when that folder is writable, else in
runtimes/ under the library's cache folder (saliency.cachedir); $SALIENCY_RUNTIME_CACHE names
another folder for every model. A JSON manifest lies beside each graph
(`.json`: how it was exported, and the chunks measured per runtime). The key hashes the weights
(every parameter and buffer), the libraries that shape the exported graph and this module's
EXPORT_FORMAT, so new weights or a new torch make a new file and the old one is deleted.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import re
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from saliency.cachedir import cache_root

log = logging.getLogger("saliency.runtimes")

CACHE_ENV = "SALIENCY_RUNTIME_CACHE"
EXPORT_FORMAT = 1  # bump when `export` changes what it writes
# Largest |p_onnx - p_torch| over the check batch that still counts as the same network. fp32
# reorderings differ by about 1e-6 (6e-7 measured on EfficientNet-Lite0); a wrong graph differs
# by orders of magnitude more.
TOLERANCE = 1e-4
_LIBRARIES = ("torch", "torchvision", "timm", "onnx", "onnxscript", "onnxruntime")


def library_versions() -> dict[str, str]:
    out = {}
    for name in _LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


class Probabilities(nn.Module):
    """The network with its softmax, so that the exported graph answers probabilities."""

    def __init__(self, module: nn.Module, logits: bool) -> None:
        super().__init__()
        self.module, self.logits = module, logits
        # Already in eval mode; .eval() would recurse into a torch.export graph, which refuses it.
        self.training = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.module(x)
        return out.softmax(dim=1) if self.logits else out


class Cache:
    """Where one network's exported graph and manifest live, under its key."""

    def __init__(self, weights_file: Path | None, weights_sha256: str, input_size: tuple[int, int],
                 logits: bool) -> None:
        ident = {"weights_sha256": weights_sha256, "input_size": list(input_size), "logits": logits,
                 "format": EXPORT_FORMAT, "libraries": library_versions()}
        self.key = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]
        self.dir, beside = _folder(weights_file)
        stem = weights_file.name if weights_file else weights_sha256[:16]
        if weights_file is not None and not beside:  # a shared folder: two net.pt must not collide
            stem += "-" + hashlib.sha256(str(weights_file.resolve()).encode()).hexdigest()[:8]
        self.stem = re.sub(r"[^A-Za-z0-9_.-]", "_", stem)
        self.onnx = self.dir / f"{self.stem}.{self.key}.onnx"
        self.manifest_path = self.onnx.with_suffix(".json")

    def manifest(self) -> dict[str, Any]:
        try:
            return json.loads(self.manifest_path.read_text())
        except (OSError, ValueError):
            return {}

    def update(self, **fields: Any) -> None:
        _atomic_write(self.manifest_path, json.dumps({**self.manifest(), **fields}, indent=1).encode())

    def drop_stale(self) -> None:
        """Delete this weights file's graphs and manifests under other keys: they can never match."""
        pattern = re.compile(re.escape(self.stem) + r"\.[0-9a-f]{16}\.(onnx|json)$")
        for path in self.dir.iterdir():
            if pattern.match(path.name) and self.key not in path.name:
                path.unlink(missing_ok=True)

    def drop(self) -> None:
        self.onnx.unlink(missing_ok=True)
        self.manifest_path.unlink(missing_ok=True)


def _folder(weights_file: Path | None) -> tuple[Path, bool]:
    """(the cache folder, whether it is the weights' own)."""
    explicit = os.environ.get(CACHE_ENV)
    if not explicit and weights_file is not None and os.access(weights_file.parent, os.W_OK):
        return weights_file.parent, True
    folder = Path(explicit) if explicit else cache_root() / "runtimes"
    folder.mkdir(parents=True, exist_ok=True)
    return folder, False


def _atomic_write(path: Path, data: bytes) -> None:
    """Two workers starting together must not read each other's half-written file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def export(module: nn.Module, logits: bool, input_size: tuple[int, int], cache: Cache) -> Path:
    """The cached graph, exported now when absent. TorchScript can only go through torch's
    TorchScript-based exporter; anything else goes through torch.export (dynamo), the maintained
    one, with the older exporter as the fallback. Raises the last exporter's error."""
    if cache.onnx.exists():
        return cache.onnx
    net = Probabilities(module, logits)
    device = next(iter([*module.parameters(), *module.buffers()]), torch.zeros(0)).device
    example = (torch.zeros(2, 3, *input_size, device=device),)  # where the network is (a GPU too)
    tmp = cache.onnx.with_name(f".{cache.onnx.name}.{os.getpid()}.tmp")
    dynamo = [] if isinstance(module, torch.jit.ScriptModule) else [True]
    error: Exception | None = None
    for use_dynamo in [*dynamo, False]:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the exporters' deprecation and tracer notes
                _export(net, example, tmp, use_dynamo)
            os.replace(tmp, cache.onnx)
            cache.drop_stale()
            cache.update(exporter="dynamo" if use_dynamo else "torchscript", key=cache.key,
                         libraries=library_versions())
            log.info("exported %s to %s (%s exporter)", cache.stem, cache.onnx,
                     "dynamo" if use_dynamo else "torchscript")
            return cache.onnx
        except Exception as exc:  # noqa: BLE001 - each exporter fails in its own way
            error = exc
            tmp.unlink(missing_ok=True)
    assert error is not None
    raise error


def _export(net: nn.Module, example: tuple[torch.Tensor], path: Path, dynamo: bool) -> None:
    names = {"input_names": ["images"], "output_names": ["probabilities"]}
    if dynamo:
        torch.onnx.export(net, example, str(path), dynamo=True, verbose=False, external_data=False,
                          dynamic_shapes=({0: torch.export.Dim("batch")},), **names)
    else:
        torch.onnx.export(net, example, str(path), dynamo=False,
                          dynamic_axes={"images": {0: "batch"}, "probabilities": {0: "batch"}}, **names)


def check_batch(input_size: tuple[int, int], device: torch.device) -> torch.Tensor:
    """Eight fixed normalised images: noise at a photo's scale, the mean image (all zeros),
    and noise with coarse blocks hidden as a method would hide them."""
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(8, 3, *input_size, generator=gen)
    noise[1] = 0
    h, w = input_size
    noise[4:, :, : h // 2] = 0
    noise[6:, :, :, : w // 2] = 0
    return noise.to(device)


def max_difference(candidate: Any, reference: Any, input_size: tuple[int, int], device: torch.device) -> float:
    """max |p_candidate - p_reference| over the check batch, in probability."""
    x = check_batch(input_size, device)
    return float((candidate.run(x).float() - reference.run(x).float()).abs().max())
