"""Open Inference Protocol (KServe V2, Triton, MLServer, OpenVINO Model Server) over REST.

Binary tensors by default (the binary data extension): the body is the JSON header, whose byte
length the `Inference-Header-Content-Length` header gives, followed by each tensor's raw
little-endian bytes; `binary = false` sends JSON only. Every output is asked for in full, never
as a server-side classification (top-k). An answer is read by its own headers, not by what was
asked: some servers answer JSON to a binary request.
"""
from __future__ import annotations

import json
from typing import Any

import httpx
import numpy as np

from saliency.models.remote import rest
from saliency.models.remote.calls import Fault
from saliency.models.remote.metadata import Metadata, Names
from saliency.models.remote.wire import DTYPES, decode

HEADER_LENGTH = "Inference-Header-Content-Length"


class V2Rest(rest.RestProtocol):
    name = api = "v2"

    def ready(self) -> None:
        answer = rest.send(self.http, self.ep, "GET", f"{self.base}/ready")
        if answer.content and answer.headers.get("content-type", "").startswith("application/json"):
            if rest.json_of(answer, "the readiness answer").get("ready") is False:
                raise Fault(f"the server says model {self.ep.served_name!r} is not ready", transient=True)

    def metadata(self) -> Metadata:
        return Metadata.of(rest.json_of(rest.send(self.http, self.ep, "GET", self.base), "the model metadata"))

    def infer(self, batch: np.ndarray, names: Names) -> np.ndarray:
        tensor: dict[str, Any] = {"name": names.input, "shape": list(batch.shape), "datatype": self.ep.datatype}
        wanted: dict[str, Any] = {"binary_data": self.ep.binary}
        request: dict[str, Any] = {"inputs": [tensor], "parameters": {"binary_data_output": self.ep.binary}}
        if names.output is not None:
            request["outputs"] = [{"name": names.output, "parameters": wanted}]
        if self.ep.binary:
            raw = batch.astype(batch.dtype.newbyteorder("<"), copy=False).tobytes()
            tensor["parameters"] = {"binary_data_size": len(raw)}
            header = json.dumps(request).encode()
            body, headers = header + raw, {"Content-Type": "application/octet-stream",
                                           HEADER_LENGTH: str(len(header))}
        else:
            tensor["data"] = batch.ravel().tolist()
            body, headers = json.dumps(request).encode(), {"Content-Type": "application/json"}
        answer = rest.send(self.http, self.ep, "POST", f"{self.base}/infer", content=body, headers=headers)
        return read_answer(answer, names.output)


def read_answer(answer: httpx.Response, output: str | None) -> np.ndarray:
    """The named output (or the only one) of an inference answer, binary or JSON, by its headers."""
    body = answer.content
    length = answer.headers.get(HEADER_LENGTH)
    try:
        split = int(length) if length is not None else len(body)
        header = json.loads(body[:split])
    except ValueError:
        raise Fault(f"the inference answer is neither JSON nor binary-extension data: {body[:200]!r}",
                    transient=False) from None
    outputs = header.get("outputs") or []
    offset = split
    for out in outputs:
        size = (out.get("parameters") or {}).get("binary_data_size")
        if output is None or out.get("name") == output:
            if output is None and len(outputs) != 1:
                raise Fault(f"the answer has outputs {[o.get('name') for o in outputs]}; declare output_name",
                            transient=False)
            return _tensor(out, body[offset:offset + size] if size is not None else None)
        offset += size or 0
    raise Fault(f"the answer has no output {output!r} (it has {[o.get('name') for o in outputs]})", transient=False)


def _tensor(out: dict[str, Any], raw: bytes | None) -> np.ndarray:
    datatype, shape = out.get("datatype", ""), [int(d) for d in out.get("shape", [])]
    try:
        if raw is not None:
            return decode(raw, datatype, shape)
        return np.asarray(out.get("data"), dtype=DTYPES.get(datatype, "<f8")).reshape(shape)
    except (ValueError, TypeError) as exc:
        raise Fault(f"its output {out.get('name')!r} cannot be read: {exc}", transient=False) from None
