"""One call from an image to an explanation: load, preprocess, predict, run a method, resize back."""
from __future__ import annotations

import math
import time
from contextlib import nullcontext
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
from saliency.catalog.metrics import metric_queries, parse_metrics
from saliency.metrics.registry import compute_metrics
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
    runtime: str = ""  # the engine that ran the forward passes, e.g. "onnxruntime 1.32.0"
    # requested metrics, e.g. {"deletion": {"auc": 0.1, "queries": 225}}; omitted when none
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    # sampling methods (OISE, RISE): split-half reliability of the map (0..1, see
    # saliency.methods.uncertainty), the per-pixel standard error at the image's size in the map's
    # units, and why sampling stopped ("budget", "target", "cap"); None for other methods
    stability: float | None = None
    uncertainty: np.ndarray | None = None
    stopped: str | None = None

    def summary(self) -> dict[str, Any]:
        """Everything but the maps, JSON-ready; stability and stopped only for sampling methods."""
        out = asdict(self)
        out.pop("saliency")
        out.pop("uncertainty")
        if not out["metrics"]:
            out.pop("metrics")
        if out["stability"] is None and out["stopped"] is None:
            out.pop("stability")
            out.pop("stopped")
        return out


def explain(image: Image.Image | str | Path | bytes, model: str | LoadedModel = DEFAULT_MODEL,
            method: str = "oise", target: int | str | None = None,
            params: dict[str, Any] | None = None, progress: Progress | None = None,
            metrics: list[str] | str | None = None) -> Explanation:
    """Explain one image. Invalid names, classes or options raise before any query is spent.

    `metrics` (names from saliency.catalog.metrics.JOB_METRICS) are computed on the map afterwards."""
    spec = get_method(method)
    parsed = spec.parse_params(params)
    metric_names = parse_metrics(metrics)
    net = load_model(model) if isinstance(model, str) else model
    img = image if isinstance(image, Image.Image) else open_image(image)
    start = time.perf_counter()
    x = net.preprocess(img)
    with torch.inference_mode():
        probs = net(x)[0].float()
    idx = net.resolve_target(target, probs)
    top = probs.topk(min(5, probs.numel()))
    top5 = [Prediction(int(i), net.labels[int(i)], float(p)) for p, i in zip(top.values, top.indices)]
    method_progress, metric_progress = _split_progress(progress, parsed, metric_names, x.shape[-2:])
    with net.black_box() if spec.needs == "black-box" else nullcontext():  # gradients: torch's threads
        out = spec.fn(net, x, torch.tensor([idx], device=net.device), parsed, method_progress)
    saliency = _to_image(out.maps, img)
    uncertainty = _to_image(out.uncertainty, img) if out.uncertainty is not None else None
    stability = float(out.stability[0]) if out.stability is not None else None
    seconds = time.perf_counter() - start  # the explanation's time; metrics are extra work
    with net.black_box():  # the metrics are forward passes only
        scores = compute_metrics(metric_names, net, x, out.maps[0], idx, metric_progress)
    return Explanation(
        saliency=saliency.cpu().numpy().astype(np.float32),
        model=net.name,
        method=method,
        params=parsed.model_dump(),
        target=Prediction(idx, net.labels[idx], float(probs[idx])),
        top5=top5,
        queries=out.queries,
        seconds=seconds,
        device=str(net.device),
        runtime=f"{net.runtime.name} {net.runtime.version}",
        metrics=scores,
        stability=None if stability is None or math.isnan(stability) else round(stability, 4),
        uncertainty=None if uncertainty is None else uncertainty.cpu().numpy().astype(np.float32),
        stopped=out.stopped,
    )


def _to_image(maps: torch.Tensor, img: Image.Image) -> torch.Tensor:
    """The first map of a (B, h, w) batch resized to the image's (height, width)."""
    return F.interpolate(maps[:1, None].float(), size=(img.height, img.width), mode="bilinear",
                         align_corners=False)[0, 0]


def _split_progress(progress: Progress | None, parsed: Any, metrics: list[str],
                    size: tuple[int, int]) -> tuple[Progress | None, Progress | None]:
    """One 0..1 progress over the method and then the metrics, shared by their query counts."""
    if progress is None or not metrics:
        return progress, progress
    extra = metric_queries(*size) * len(metrics)
    share = (q := getattr(parsed, "budget", getattr(parsed, "queries", extra))) / (q + extra)
    return (lambda f: progress(share * f)), (lambda f: progress(share + (1 - share) * f))
