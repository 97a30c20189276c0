"""What a server says about a model (GET /v2/models/{m}, gRPC ModelMetadata), and the input and
output tensor names chosen from it when the models file names none."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from saliency.models.remote.calls import Fault
from saliency.models.remote.config import Endpoint


@dataclass(frozen=True)
class Tensor:
    name: str
    datatype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Metadata:
    name: str = ""
    versions: tuple[str, ...] = ()
    platform: str = ""
    inputs: tuple[Tensor, ...] = ()
    outputs: tuple[Tensor, ...] = ()

    @classmethod
    def of(cls, body: dict[str, Any]) -> "Metadata":
        def tensors(key: str) -> tuple[Tensor, ...]:
            return tuple(Tensor(t.get("name", ""), t.get("datatype", ""), tuple(int(d) for d in t.get("shape", [])))
                         for t in body.get(key) or [])
        return cls(str(body.get("name", "")), tuple(map(str, body.get("versions") or [])),
                   str(body.get("platform", "")), tensors("inputs"), tensors("outputs"))


@dataclass(frozen=True)
class Names:
    input: str
    output: str | None  # None: whatever the model answers (v1 without a declared output)


def choose_names(ep: Endpoint, meta: Metadata | None) -> Names:
    """The declared names, else the metadata's only input and output; a declared input is checked
    against the metadata's datatype and shape, so a wrong layout fails before any query. Without
    metadata (V1) only the declared names exist; a V1 instance is then the bare image."""
    if meta is None:
        return Names(ep.input_name or "", ep.output_name)
    inputs = {t.name: t for t in meta.inputs} if meta else {}
    outputs = [t.name for t in meta.outputs] if meta else []
    name = ep.input_name
    if name is None:
        if len(inputs) != 1:
            listed = ", ".join(inputs) or "none listed"
            raise Fault(f"the model has {len(inputs)} inputs ({listed}); declare input_name", transient=False)
        name = next(iter(inputs))
    output = ep.output_name
    if output is None and outputs:
        if len(outputs) != 1:
            raise Fault(f"the model has outputs {', '.join(outputs)}; declare output_name", transient=False)
        output = outputs[0]
    if name in inputs:
        _check_input(ep, inputs[name])
    return Names(name, output)


def _check_input(ep: Endpoint, tensor: Tensor) -> None:
    if tensor.datatype and tensor.datatype != ep.datatype:
        raise Fault(f"its input {tensor.name!r} is {tensor.datatype}, but the models file says datatype = "
                    f"\"{ep.datatype}\"", transient=False)
    h, w = ep.input_size
    want = (3, h, w) if ep.layout == "NCHW" else (h, w, 3)
    dims = tensor.shape[-3:]
    if len(dims) == 3 and any(d not in (-1, v) for d, v in zip(dims, want)):
        raise Fault(f"its input {tensor.name!r} has shape {list(tensor.shape)}, which does not fit layout "
                    f"{ep.layout} at input_size {list(ep.input_size)}", transient=False)
