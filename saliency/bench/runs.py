"""What the localisation benchmark runs: each registered method at each query budget.

A method whose options have `queries` is a sampling method and runs at every budget; occlusion
spends its budget through its stride; any other method (the gradient ones, extremal perturbation)
runs once at its defaults and reports the queries it spent. OISE variants are named presets or
option=value pairs.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from saliency.catalog.options import OiseParams
from saliency.errors import InvalidParams, SaliencyError
from saliency.methods import METHODS

BUDGETS = (250, 500, 1000, 2000, 5000)
QUICK_BUDGETS = (250, 1000)

# OISE presets: default = our defaults (OiseParams: 500 chains, S += p * mask as in the authors' README);
# authors = their code (one chain, S += next mask); unweighted = our defaults with their code's sum;
# option=value[+option=value] = the defaults with those options, e.g. chains=16 or refine_grid=16.
OISE_PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "authors": {"chains": 1, "weighting": "none"},
    "unweighted": {"weighting": "none"},
}
DEFAULT_OISE_VARIANTS = ("default", "authors", "unweighted")


@dataclass(frozen=True)
class Run:
    label: str  # row name, e.g. "oise[authors]"
    method: str
    budget: int | None  # None: run once at the method's defaults
    params: dict[str, Any] = field(default_factory=dict)


def oise_variant(name: str) -> dict[str, Any]:
    if name in OISE_PRESETS:
        return dict(OISE_PRESETS[name])
    params: dict[str, Any] = {}
    for part in name.split("+"):
        match = re.fullmatch(r"([a-z_]+)=([0-9.]+)", part)
        if not match or match.group(1) not in OiseParams.model_fields:
            raise SaliencyError(f"unknown OISE variant {name!r}; known: {', '.join(OISE_PRESETS)}, or "
                                "option=value joined by '+', e.g. chains=16+refine_grid=16")
        params[match.group(1)] = json.loads(match.group(2))
    try:
        METHODS["oise"].parse_params(params)
    except InvalidParams as exc:
        raise SaliencyError(f"OISE variant {name!r}: {exc}") from None
    return params


def occlusion_params(budget: int, size: tuple[int, int]) -> dict[str, Any]:
    """The smallest stride whose windows (plus the clean pass) fit in the budget, default window."""
    from saliency.methods.occlusion import windows

    h, w = size
    win = max(1, round(min(h, w) / 7))
    stride = 1
    while 1 + windows(h, win, stride) * windows(w, win, stride) > budget and stride < max(h, w):
        stride += 1
    return {"window": win, "stride": stride}


def _params_for(method: str) -> Callable[[int, tuple[int, int]], dict[str, Any]] | None:
    if method == "occlusion":
        return occlusion_params
    if "queries" in METHODS[method].options.model_fields:
        return lambda budget, size: {"queries": budget}
    return None


def plan(methods: list[str] | None, budgets: list[int], oise_variants: list[str], seed: int,
         size: tuple[int, int], gradients: bool) -> list[Run]:
    """Runs for one model: `size` is its input size, `gradients` whether it can be differentiated."""
    names = methods or sorted(METHODS)
    unknown = [m for m in names if m not in METHODS]
    if unknown:
        raise SaliencyError(f"unknown method {unknown[0]!r}; registered: {', '.join(sorted(METHODS))}")
    runs: list[Run] = []
    for name in names:
        spec = METHODS[name]
        if spec.needs == "gradients" and not gradients:
            continue
        seeded = {"seed": seed} if "seed" in spec.options.model_fields else {}
        variants = [(v, oise_variant(v)) for v in oise_variants] if name == "oise" else [("", {})]
        to_params = _params_for(name)
        for variant, extra in variants:
            label = f"{name}[{variant}]" if name == "oise" and variant != "default" else name
            if to_params is None:
                runs.append(Run(label, name, None, {**seeded, **extra}))
                continue
            for budget in budgets:
                runs.append(Run(label, name, budget, {**to_params(budget, size), **seeded, **extra}))
    return runs
