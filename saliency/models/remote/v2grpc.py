"""Open Inference Protocol over gRPC (`inference.GRPCInferenceService`): tensors travel as raw
little-endian bytes (`raw_input_contents`, `raw_output_contents`); typed `contents` are read too,
for servers that answer that way. UNAVAILABLE (and RESOURCE_EXHAUSTED, gRPC's 429) and deadline
overruns are transient; every other status is final."""
from __future__ import annotations

from typing import Any

import grpc
import numpy as np

from saliency.models.remote.calls import Fault
from saliency.models.remote.config import Endpoint
from saliency.models.remote.messages import CONTENTS, M, SERVICE
from saliency.models.remote.metadata import Metadata, Names, Tensor
from saliency.models.remote.wire import DTYPES, decode

TRANSIENT = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED,
                       grpc.StatusCode.DEADLINE_EXCEEDED})


class V2Grpc:
    name = "v2-grpc"

    def __init__(self, ep: Endpoint) -> None:
        self.ep = ep
        size = ep.max_request_bytes * 2 + (1 << 20)  # an answer is far smaller than a request
        options = [("grpc.max_send_message_length", size), ("grpc.max_receive_message_length", size)]
        target = ep.host if ":" in ep.host else f"{ep.host}:{443 if ep.url.startswith('grpcs') else 80}"
        self.channel = (grpc.secure_channel(target, grpc.ssl_channel_credentials(), options=options)
                        if ep.url.startswith("grpcs") else grpc.insecure_channel(target, options=options))
        self.headers = tuple((k.lower(), v) for k, v in ep.headers().items())
        self.rpc = {name: self.channel.unary_unary(SERVICE + name, request_serializer=lambda m: m.SerializeToString(),
                                                   response_deserializer=M[response].FromString)
                    for name, response in (("ModelReady", "ModelReadyResponse"),
                                           ("ModelMetadata", "ModelMetadataResponse"),
                                           ("ModelInfer", "ModelInferResponse"))}

    def _call(self, method: str, request: Any) -> Any:
        try:
            return self.rpc[method](request, timeout=self.ep.timeout, metadata=self.headers)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
            detail = (exc.details() if hasattr(exc, "details") else "") or ""
            if "larger than max" in detail:  # RESOURCE_EXHAUSTED that no retry can cure
                raise Fault(f"{method} answered {code.name}: {detail[:300]}; lower max_request_bytes to what the "
                            "server accepts", transient=False) from None
            raise Fault(f"{method} answered {code.name}: {detail[:300]}", transient=code in TRANSIENT) from None

    def ready(self) -> None:
        answer = self._call("ModelReady", M["ModelReadyRequest"](name=self.ep.served_name,
                                                                  version=self.ep.version or ""))
        if not answer.ready:
            raise Fault(f"the server says model {self.ep.served_name!r} is not ready", transient=True)

    def metadata(self) -> Metadata:
        m = self._call("ModelMetadata", M["ModelMetadataRequest"](name=self.ep.served_name,
                                                                   version=self.ep.version or ""))
        def tensors(items: Any) -> tuple[Tensor, ...]:
            return tuple(Tensor(t.name, t.datatype, tuple(t.shape)) for t in items)
        return Metadata(m.name, tuple(m.versions), m.platform, tensors(m.inputs), tensors(m.outputs))

    def infer(self, batch: np.ndarray, names: Names) -> np.ndarray:
        request = M["ModelInferRequest"](model_name=self.ep.served_name, model_version=self.ep.version or "")
        request.inputs.add(name=names.input, datatype=self.ep.datatype, shape=list(batch.shape))
        if names.output is not None:  # in full: no classification parameter, ever
            request.outputs.add(name=names.output)
        request.raw_input_contents.append(batch.astype(batch.dtype.newbyteorder("<"), copy=False).tobytes())
        answer = self._call("ModelInfer", request)
        for i, out in enumerate(answer.outputs):
            if names.output is None or out.name == names.output:
                if names.output is None and len(answer.outputs) != 1:
                    raise Fault(f"the answer has outputs {[o.name for o in answer.outputs]}; declare output_name",
                                transient=False)
                return _tensor(out, answer.raw_output_contents[i] if i < len(answer.raw_output_contents) else None)
        raise Fault(f"the answer has no output {names.output!r} (it has {[o.name for o in answer.outputs]})",
                    transient=False)

    def close(self) -> None:
        self.channel.close()


def _tensor(out: Any, raw: bytes | None) -> np.ndarray:
    shape = list(out.shape)
    try:
        if raw is not None:
            return decode(raw, out.datatype, shape)
        values = getattr(out.contents, CONTENTS.get(out.datatype, "fp32_contents"))
        return np.asarray(values, dtype=DTYPES.get(out.datatype, "<f8")).reshape(shape)
    except (ValueError, TypeError) as exc:
        raise Fault(f"its output {out.name!r} cannot be read: {exc}", transient=False) from None
