"""One call from an image to an explanation: load, preprocess, predict, run a method, resize back."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from saliency.images import open_image
from saliency.methods import get_method
from saliency.methods.base import Progress
from saliency.models import DEFAULT_MODEL, LoadedModel, load_model


@dataclass
class Prediction:
    index: int
    label: str
    score: float


@dataclass
class Explanation:
    saliency: np.ndarray  # float32, (height, width) of the original image
    model: str
    method: str
    params: dict[str, Any]
    target: Prediction  # the explained class and its probability on the clean image
    top5: list[Prediction]
    queries: int
    seconds: float
    device: str = field(default="cpu")

    def summary(self) -> dict[str, Any]:
        """Everything but the map, JSON-ready."""
        out = asdict(self)
        out.pop("saliency")
        return out


def explain(image: Image.Image | str | Path | bytes, model: str | LoadedModel = DEFAULT_MODEL,
            method: str = "oise", target: int | str | None = None,
            params: dict[str, Any] | None = None, progress: Progress | None = None) -> Explanation:
    """Explain one image. Invalid names, classes or options raise before any query is spent."""
    spec = get_method(method)
    parsed = spec.parse_params(params)
    net = load_model(model) if isinstance(model, str) else model
    img = image if isinstance(image, Image.Image) else open_image(image)
    start = time.perf_counter()
    x = net.preprocess(img)
    with torch.inference_mode():
        probs = net(x)[0].float()
    idx = net.resolve_target(target, probs)
    top = probs.topk(min(5, probs.numel()))
    top5 = [Prediction(int(i), net.labels[int(i)], float(p)) for p, i in zip(top.values, top.indices)]
    out = spec.fn(net, x, torch.tensor([idx], device=net.device), parsed, progress)
    saliency = F.interpolate(out.maps[:1, None].float(), size=(img.height, img.width), mode="bilinear",
                             align_corners=False)[0, 0]
    return Explanation(
        saliency=saliency.cpu().numpy().astype(np.float32),
        model=net.name,
        method=method,
        params=parsed.model_dump(),
        target=Prediction(idx, net.labels[idx], float(probs[idx])),
        top5=top5,
        queries=out.queries,
        seconds=time.perf_counter() - start,
        device=str(net.device),
    )
