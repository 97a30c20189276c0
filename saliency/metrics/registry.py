"""Metrics a job can ask for by name: the functions behind the names declared in
saliency.catalog.metrics. Each returns its value and the model queries it spent."""
from __future__ import annotations

import time
from typing import Any, Callable

import torch

from saliency.catalog.metrics import JOB_METRICS as DESCRIPTIONS
from saliency.catalog.metrics import metric_queries, parse_metrics
from saliency.methods.base import Classifier, Progress
from saliency.metrics.causal import CurveResult, causal_curve

# (model, normalised (1, C, H, W) image, (H, W) map at the model's resolution, target, progress)
MetricFn = Callable[[Classifier, torch.Tensor, torch.Tensor, int, Progress | None], CurveResult]

JOB_METRICS: dict[str, MetricFn] = {
    "deletion": lambda m, x, s, t, p: causal_curve(m, x, s, t, "deletion", progress=p),
    "insertion": lambda m, x, s, t, p: causal_curve(m, x, s, t, "insertion", progress=p),
}
assert JOB_METRICS.keys() == DESCRIPTIONS.keys()


def compute_metrics(names: list[str], model: Classifier, image: torch.Tensor, saliency: torch.Tensor,
                    target: int, progress: Progress | None = None) -> dict[str, dict[str, Any]]:
    """{"deletion": {"auc": ..., "queries": ..., "seconds": ...}, ...} for the named metrics, in order."""
    out: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(names):
        def sub(f: float, i: int = i) -> None:
            if progress is not None:
                progress((i + f) / len(names))
        start = time.perf_counter()
        res = JOB_METRICS[name](model, image, saliency, target, sub)
        out[name] = {"auc": res.auc, "queries": res.queries, "seconds": time.perf_counter() - start}
    return out


__all__ = ["JOB_METRICS", "compute_metrics", "metric_queries", "parse_metrics"]
