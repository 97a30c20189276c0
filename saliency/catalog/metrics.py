"""Metrics a job can ask for by name (they need only the model, the image and the map): their
names, what each costs in queries, and how a request names them. The functions are in
saliency.metrics.registry."""
from __future__ import annotations

import json
import math
from typing import Any

from saliency.errors import InvalidMetrics

# RISE moves 1/224 of the pixels per step (224 px per step at 224 x 224).
RISE_STEPS = 224
JOB_METRICS: dict[str, str] = {
    "deletion": "RISE deletion AUC: lower is better",
    "insertion": "RISE insertion AUC: higher is better",
}


def default_step(height: int, width: int) -> int:
    """Pixels moved per step: 1/224 of the image, rounded up (224 at 224 x 224, as in RISE)."""
    return math.ceil(height * width / RISE_STEPS)


def metric_queries(height: int, width: int) -> int:
    """Queries one causal metric spends on an image of the model's size (for progress shares)."""
    return -(-height * width // default_step(height, width)) + 1


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
                raise InvalidMetrics(field, f"not valid JSON ({exc}); e.g. [\"deletion\"] or "
                                           "deletion,insertion") from None
        else:
            names = [n.strip() for n in text.split(",") if n.strip()]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InvalidMetrics(field, "must be a list of metric names")
    unknown = [n for n in names if n not in JOB_METRICS]
    if unknown:
        raise InvalidMetrics(field, f"unknown metric {unknown[0]!r}; known: {', '.join(JOB_METRICS)}")
    return list(dict.fromkeys(names))
