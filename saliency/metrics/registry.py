"""Metrics a job can ask for by name: the ones that need only the model, the image and the map
(no ground truth). Each returns its value and the model queries it spent."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch

from saliency.errors import InvalidParams
from saliency.methods.base import Classifier, Progress
from saliency.metrics.causal import CurveResult, causal_curve, default_step

# (model, normalised (1, C, H, W) image, (H, W) map at the model's resolution, target, progress)
MetricFn = Callable[[Classifier, torch.Tensor, torch.Tensor, int, Progress | None], CurveResult]


@dataclass(frozen=True)
class JobMetric:
    name: str
    fn: MetricFn
    description: str

    def queries(self, height: int, width: int) -> int:
        """Queries it will spend on an image of the model's size (for progress shares)."""
        return -(-height * width // default_step(height, width)) + 1


JOB_METRICS: dict[str, JobMetric] = {
    "deletion": JobMetric("deletion", lambda m, x, s, t, p: causal_curve(m, x, s, t, "deletion", progress=p),
                          "RISE deletion AUC: lower is better"),
    "insertion": JobMetric("insertion", lambda m, x, s, t, p: causal_curve(m, x, s, t, "insertion", progress=p),
                           "RISE insertion AUC: higher is better"),
}


def parse_metrics(raw: str | list[Any] | None, field: str = "metrics") -> list[str]:
    """A JSON list or comma-separated names -> known names, in order, without repeats."""
    if raw is None:
        return []
    names: Any = raw
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("["):
            try:
                names = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InvalidParams(field, f"not valid JSON: {exc}") from None
        else:
            names = [n.strip() for n in text.split(",") if n.strip()]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InvalidParams(field, "must be a list of metric names")
    unknown = [n for n in names if n not in JOB_METRICS]
    if unknown:
        raise InvalidParams(field, f"unknown metric {unknown[0]!r}; known: {', '.join(JOB_METRICS)}")
    return list(dict.fromkeys(names))


def compute_metrics(names: list[str], model: Classifier, image: torch.Tensor, saliency: torch.Tensor,
                    target: int, progress: Progress | None = None) -> dict[str, dict[str, Any]]:
    """{"deletion": {"auc": ..., "queries": ..., "seconds": ...}, ...} for the named metrics, in order."""
    out: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(names):
        def sub(f: float, i: int = i) -> None:
            if progress is not None:
                progress((i + f) / len(names))
        start = time.perf_counter()
        res = JOB_METRICS[name].fn(model, image, saliency, target, sub)
        out[name] = {"auc": res.auc, "queries": res.queries, "seconds": time.perf_counter() - start}
    return out
