"""A model served elsewhere, as methods see it: a callable from normalised images (N, 3, H, W) to
class probabilities (N, classes), over the endpoint's protocol.

`RemoteRuntime` is the forward pass: it writes the images in the endpoint's input format, splits
them into requests (at most `max_batch` images and `max_request_bytes` each, spread over the
`in_flight` slots so that a server's dynamic batcher stays fed), sends them concurrently under
the retry policy and rate cap (calls.Caller), checks each answer and returns probabilities.
`RemoteModel` wraps it in what `LoadedModel` offers methods: preprocess, labels, spec, device,
the preferred forward chunk (`chunk` = max_batch x in_flight: one call fills every slot), and
an identity for the audit. Readiness (model-ready, not server-ready) is checked lazily: by the
worker at each job's start (`check_ready`), and before the first request of a process.
"""
from __future__ import annotations

import importlib
import math
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

from saliency.errors import ModelUnavailable
from saliency.models.remote.calls import Caller, Fault
from saliency.models.remote.config import Endpoint
from saliency.models.remote.metadata import Metadata, Names, choose_names
from saliency.models.remote.wire import encode, probabilities
from saliency.models.spec import LoadedModel, ModelSpec

# Imported when first used: grpcio and protobuf load only where a gRPC endpoint is declared.
PROTOCOLS = {"v2": ("v2rest", "V2Rest"), "v2-grpc": ("v2grpc", "V2Grpc"), "v1": ("v1rest", "V1Rest")}


def request_sizes(n: int, cap: int, in_flight: int) -> list[int]:
    """n images in as even requests as possible: at most `cap` each, and at least `in_flight` of
    them when there are that many images, so every slot has work."""
    count = max(math.ceil(n / cap), min(in_flight, n))
    return [n // count + (1 if i < n % count else 0) for i in range(count)]


class RemoteRuntime:
    """The forward pass of a remote model: name, version, where, chunk and run(images)."""

    local_pool = False  # it waits on the endpoint: torch keeps this machine's cores

    def __init__(self, ep: Endpoint, mean: torch.Tensor, std: torch.Tensor, classes: int) -> None:
        self.ep, self.mean, self.std, self.classes = ep, mean, std, classes
        self.name = f"remote-{ep.protocol}"
        self.where = ep.where
        self.chunk = ep.max_batch * ep.in_flight
        self.caller = Caller(ep)
        self.names: Names | None = None
        self.metadata: Metadata | None = None
        self._transport: Any = None
        self._pool = ThreadPoolExecutor(ep.in_flight, thread_name_prefix=f"remote-{ep.model}")
        self._lock = threading.Lock()
        h, w = ep.input_size
        # images per request: the models file refuses a byte cap below one image
        self.cap = min(ep.max_batch, ep.max_request_bytes // (3 * h * w * (1 if ep.datatype == "UINT8" else 4)))

    @property
    def version(self) -> str:
        """The model version asked for, else the ones the server lists."""
        return self.ep.version or ",".join(self.metadata.versions if self.metadata else ())

    @property
    def transport(self) -> Any:
        with self._lock:
            if self._transport is None:
                module, name = PROTOCOLS[self.ep.protocol]
                try:
                    protocol = getattr(importlib.import_module(f"saliency.models.remote.{module}"), name)
                except ImportError as exc:  # grpcio or protobuf not installed where this runs
                    raise ModelUnavailable(
                        f"model {self.ep.model!r} is served over {self.ep.protocol}, which needs the Python "
                        f"package {exc.name!r} here; install grpcio and protobuf (the 'torch' extra "
                        "of this project has them)") from None
                self._transport = protocol(self.ep)
            return self._transport

    def check_ready(self) -> None:
        """Model-ready now; its metadata (for the tensor names) once per process."""
        self.caller.call("the readiness check", self.transport.ready)
        if self.names is None:
            meta = self.caller.call("reading the model metadata", self.transport.metadata)
            try:
                self.names = choose_names(self.ep, meta)
            except Fault as fault:
                raise self.caller.error("reading the model metadata", fault, 1) from None
            self.metadata = meta

    def run(self, images: torch.Tensor) -> torch.Tensor:
        if self.names is None:
            self.check_ready()
        wire = encode(images, self.mean, self.std, self.ep)
        futures: list[Future[np.ndarray]] = []
        start = 0
        for size in request_sizes(len(wire), self.cap, self.ep.in_flight):
            futures.append(self._pool.submit(self._infer, wire[start:start + size]))
            start += size
        try:
            parts = [f.result() for f in futures]
        finally:
            for f in futures:  # after a failure (or a job stopped meanwhile) send no more
                f.cancel()
        return torch.from_numpy(np.concatenate(parts)).to(images.device)

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        def attempt() -> np.ndarray:
            answer = self.transport.infer(batch, self.names)
            try:
                return probabilities(answer, len(batch), self.classes, self.ep.output)
            except ValueError as exc:
                raise Fault(f"its answer is unusable: {exc}", transient=False) from None
        return self.caller.call(f"inference on {len(batch)} images", attempt, images=len(batch))


class RemoteModel(LoadedModel):
    """What methods and the service use of a LoadedModel, for a model served elsewhere. It has no
    `module`: gradient methods are refused for it at submission (its catalog entry says so)."""

    def __init__(self, spec: ModelSpec, device: torch.device) -> None:  # noqa: D107 - no network built
        self.spec = spec
        self.device = device
        self.module = None
        self.labels = spec.labels()
        self._mean = torch.tensor(spec.mean, device=device).view(1, 3, 1, 1)
        self._std = torch.tensor(spec.std, device=device).view(1, 3, 1, 1)
        self.runtime = RemoteRuntime(spec.remote, self._mean.flatten().cpu(), self._std.flatten().cpu(),
                                     len(self.labels))

    @property
    def chunk(self) -> int:
        """Images per forward call that fill every request slot."""
        return self.runtime.chunk

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.runtime.run(x)

    @property
    def runtime_record(self) -> dict[str, Any]:  # type: ignore[override] - the version is read lazily
        from saliency.runtimes.base import record

        return record(self.runtime, requested="remote")

    def check_ready(self) -> None:
        self.runtime.check_ready()

    def identity(self) -> dict[str, Any]:
        """The model as the audit records it: the endpoint and what its server says, no secrets."""
        ep, meta, names = self.spec.remote, self.runtime.metadata, self.runtime.names
        remote = {"endpoint": ep.where, "protocol": ep.protocol, "served_name": ep.served_name,
                  "version": ep.version, "server_versions": list(meta.versions) if meta else None,
                  "platform": meta.platform if meta else None, "datatype": ep.datatype, "layout": ep.layout,
                  "scale": ep.scale, "input": names.input if names else None,
                  "output": names.output if names else None, "max_batch": ep.max_batch, "in_flight": ep.in_flight}
        return {"name": self.name, "source": "remote", "description": self.spec.description,
                "weights_sha256": None, "parameters": None, "device": str(self.device), "remote": remote}
