"""POST /predict: the model's top classes for an upload, without explaining it.

The web page offers these as targets before a job is submitted. It is one forward pass, so it runs
in the API process rather than queueing behind long explanations: the model is loaded on the API's
CPU on first use and kept for the life of the process (an API replica then holds one copy of each
model it was asked about). Input is checked exactly as for POST /explain.
"""
from __future__ import annotations

import torch

from app.validation import check_size, decode, model_spec
from saliency.models import load_model

# The API may run on a machine without a GPU (or share one with workers): predict on the CPU.
DEVICE = "cpu"


def top_classes(image: bytes, model: str, max_bytes: int, k: int = 5) -> list[dict[str, object]]:
    """[{index, label, score}] best first; raises the validation errors of POST /explain
    (413, 415, 422 `model`) and ModelUnavailable (503) when the weights cannot be loaded."""
    check_size(image, max_bytes)
    model_spec(model)  # 422 for an unknown name before the upload is decoded
    picture = decode(image)
    net = load_model(model, device=DEVICE)
    with torch.inference_mode():
        probs = net(net.preprocess(picture))[0].float()
    top = probs.topk(min(k, probs.numel()))
    return [{"index": int(i), "label": net.labels[int(i)], "score": float(p)}
            for p, i in zip(top.values, top.indices)]
