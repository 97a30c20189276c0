"""A user's .onnx file as a model: is it an image classifier this service can run?

Read from the file's own declarations (one float input (N, 3, H, W) with a free batch axis), then
confirmed by running two blank images: the output must be (2, classes), one column per label.
"""
from __future__ import annotations

from pathlib import Path

import torch

from saliency.errors import ModelUnavailable
from saliency.runtimes.onnx_engines import OnnxRuntime


def _fixed(dim: object) -> int | None:
    """A dimension the file fixes (an int), or None for a named or unknown one."""
    return dim if isinstance(dim, int) and dim > 0 else None


def input_problem(shape: list[object], kind: str, input_size: tuple[int, int]) -> str | None:
    """Why an input of this declared shape and type is not (N, 3, H, W) float at `input_size`."""
    if kind != "tensor(float)":
        return f"its input is {kind}, not float32 (tensor(float))"
    if len(shape) == 3:
        return f"its input {shape} has no batch dimension; export it as (N, 3, H, W)"
    if len(shape) != 4:
        return f"its input has rank {len(shape)} ({shape}), not 4 (N, 3, H, W)"
    batch, channels, h, w = (_fixed(d) for d in shape)
    if batch is not None:
        return (f"its batch dimension is fixed at {batch} ({shape}); export it with a dynamic batch "
                "axis (torch.onnx.export(..., dynamic_axes={'input': {0: 'batch'}}))")
    if channels is not None and channels != 3:
        hint = "; it looks channels-last: export it channels-first" if _fixed(shape[3]) == 3 else ""
        return f"its input {shape} takes {channels} channels, not 3 (RGB){hint}"
    if (h is not None and h != input_size[0]) or (w is not None and w != input_size[1]):
        return f"its input {shape} is fixed at {h} x {w}, but the models file says input_size = {list(input_size)}"
    return None


def load_classifier(path: Path, name: str, input_size: tuple[int, int], classes: int,
                    device: torch.device, logits: bool) -> OnnxRuntime:
    """ONNX Runtime on the file, or ModelUnavailable saying why the file is not a classifier."""
    def refuse(why: str) -> ModelUnavailable:
        return ModelUnavailable(f"model {name!r}: {path.name} is not an image classifier this service "
                                f"can run: {why}")

    try:
        rt = OnnxRuntime(path, device, logits, classes)
    except ModelUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - ONNX Runtime raises its own types for unreadable files
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise refuse(f"ONNX Runtime cannot load it ({first[:200]})") from None
    inputs = rt.session.get_inputs()
    if len(inputs) != 1:
        raise refuse(f"it takes {len(inputs)} inputs ({', '.join(i.name for i in inputs)}), not one image batch")
    problem = input_problem(list(inputs[0].shape), inputs[0].type, input_size)
    if problem:
        raise refuse(problem)
    probe = torch.zeros(2, 3, *input_size)
    try:
        out = rt.session.run([rt.output], {rt.input: probe.numpy()})[0]
    except Exception as exc:  # noqa: BLE001
        raise refuse(f"it fails on a batch of two {input_size[0]} x {input_size[1]} images ({exc})") from None
    if out.ndim != 2 or out.shape[0] != 2:
        raise refuse(f"its output for 2 images has shape {list(out.shape)}, not [N, classes] = [2, {classes}]")
    if out.shape[1] != classes:
        raise refuse(f"it scores {out.shape[1]} classes, but its labels file names {classes}")
    return rt
