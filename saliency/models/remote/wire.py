"""Between the methods' tensors and an endpoint's: normalised images to its input format, and its
answer checked and turned into probabilities.

Methods mask images in the normalised space of the model's mean and std (a masked pixel becomes
the mean colour), exactly as for a local model; only then is the masked image written in the
endpoint's own format. So a remote model and the same network run locally see the same pixels,
up to the rounding of UINT8 inputs.
"""
from __future__ import annotations

import numpy as np
import torch

from saliency.models.remote.config import Endpoint

# Open Inference Protocol datatypes this client reads, as little-endian numpy dtypes.
DTYPES = {"FP16": "<f2", "FP32": "<f4", "FP64": "<f8", "UINT8": "u1", "INT8": "i1", "INT16": "<i2",
          "INT32": "<i4", "INT64": "<i8", "UINT16": "<u2", "UINT32": "<u4", "UINT64": "<u8"}
SUM_TOLERANCE = 1e-2  # how far a row of probabilities may sum from 1 (FP16 outputs, rounding)


def encode(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, ep: Endpoint) -> np.ndarray:
    """Normalised (N, 3, H, W) -> the endpoint's input: its datatype, scale and layout, on the CPU."""
    x = images.detach().float().cpu()
    if ep.scale != "normalized":
        unit = x * std.view(1, 3, 1, 1) + mean.view(1, 3, 1, 1)
        x = (unit * 255).round().clamp(0, 255).to(torch.uint8) if ep.datatype == "UINT8" else (
            unit * 255 if ep.scale == "pixels" else unit)
    if ep.layout == "NHWC":
        x = x.permute(0, 2, 3, 1)
    return np.ascontiguousarray(x.cpu().numpy())


def decode(raw: bytes, datatype: str, shape: list[int]) -> np.ndarray:
    """Raw little-endian tensor bytes (binary extension, gRPC raw contents) -> an array."""
    if datatype not in DTYPES:
        raise ValueError(f"an output of datatype {datatype} (not a number type)")
    dtype = np.dtype(DTYPES[datatype])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"{len(raw)} bytes for a {datatype} tensor of shape {shape} ({expected} expected)")
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def probabilities(answer: np.ndarray, n: int, classes: int, output: str) -> np.ndarray:
    """The endpoint's answer for n images checked and made (n, classes) float32 probabilities.

    Raises ValueError saying what is wrong with it: shape, values, or rows that do not sum to 1."""
    out = np.asarray(answer)
    if out.dtype.kind not in "fiu":
        raise ValueError(f"dtype {out.dtype}, not numbers")
    # (n, 1, classes) and the like are (n, classes): only singleton axes are dropped
    singleton = out.ndim > 2 and out.shape[0] == n and sum(d != 1 for d in out.shape[1:]) == 1
    squeezed = out.reshape(n, -1) if singleton else out
    if squeezed.shape != (n, classes):
        raise ValueError(f"shape {list(out.shape)} for {n} images; the model's labels file has "
                         f"{classes} classes, so [{n}, {classes}] was expected")
    probs = squeezed.astype(np.float32)
    if not np.isfinite(probs).all():
        raise ValueError("NaN or infinite values")
    if output == "logits":
        shifted = np.exp(probs - probs.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)
    sums = probs.sum(axis=1)
    if (probs < -SUM_TOLERANCE).any() or np.abs(sums - 1).max() > SUM_TOLERANCE:
        worst = float(sums[np.abs(sums - 1).argmax()])
        raise ValueError(f"probabilities whose rows do not sum to 1 (one sums to {worst:.4g}); if the "
                         "model answers logits, declare output = \"logits\"")
    return probs
