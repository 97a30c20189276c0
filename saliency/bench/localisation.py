"""`saliency bench localisation`: how well each method localises, against how many queries it spent.

For every run (a method at a query budget, see saliency.bench.runs) and every image with ground
truth (saliency.bench.cases), the map is scored with the metrics of METHOD.md: pointing game,
energy pointing game and localisation error at the image's resolution against the object's box,
deletion and insertion AUC at the model's input resolution. Rows average over the images of a
data set; pointing accuracy is hits / cases.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from saliency.bench.cases import Case
from saliency.bench.runs import Run
from saliency.methods import get_method
from saliency.metrics import deletion, energy_pointing_game, insertion, localisation_error, pointing_game

SCORES = ("pointing", "energy", "loc_error", "deletion", "insertion")


@dataclass
class Scored:
    dataset: str
    image: str
    label: str
    method: str
    budget: int | None
    queries: int
    seconds: float
    pointing: float  # 1.0 hit, 0.0 miss
    energy: float
    loc_error: float  # 1.0 error, 0.0 correct
    deletion: float
    insertion: float
    distractor: bool
    error: str | None = None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def score(case: Case, run: Run, metric_batch: int = 64) -> Scored:
    """Run one method on one image and score its map; a method that fails is recorded, not raised."""
    spec = get_method(run.method)
    nan = float("nan")
    base = dict(dataset=case.dataset, image=case.name, label=run.label, method=run.method, budget=run.budget,
                distractor=case.distractor)
    try:
        params = spec.parse_params(run.params)
        target = torch.tensor([case.target], device=case.x.device)
        _sync(case.x.device)
        start = time.perf_counter()
        out = spec.fn(case.model, case.x, target, params)
        _sync(case.x.device)
        seconds = time.perf_counter() - start
    except Exception as exc:  # a baseline that cannot run on this model must not stop the others
        return Scored(**base, queries=0, seconds=nan, pointing=nan, energy=nan, loc_error=nan,
                      deletion=nan, insertion=nan, error=f"{type(exc).__name__}: {exc}")
    small = out.maps[0].detach().float()
    full = F.interpolate(small[None, None], size=case.size, mode="bilinear", align_corners=False)[0, 0]
    sal = full.cpu().numpy()
    return Scored(
        **base, queries=out.queries, seconds=seconds,
        pointing=float(pointing_game(sal, case.boxes, case.tolerance)),
        energy=energy_pointing_game(sal, case.boxes),
        loc_error=float(localisation_error(sal, case.boxes).error),
        deletion=deletion(case.model, case.x, small, case.target, batch_size=metric_batch).auc,
        insertion=insertion(case.model, case.x, small, case.target, batch_size=metric_batch).auc,
    )


def run_all(cases: list[Case], runs_for: Callable[[Case], list[Run]], metric_batch: int = 64,
            progress: Callable[[str], None] | None = None) -> list[Scored]:
    results = []
    for i, case in enumerate(cases):
        start = time.perf_counter()
        mine = [score(case, run, metric_batch) for run in runs_for(case)]
        results += mine
        if progress is not None:
            failed = sorted({r.label for r in mine if r.error})
            progress(f"[{i + 1}/{len(cases)}] {case.dataset}/{case.name}: {len(mine)} runs, "
                     f"{time.perf_counter() - start:.1f} s" + (f", failed: {', '.join(failed)}" if failed else ""))
    return results


def _mean(values: list[float]) -> float:
    ok = [v for v in values if not math.isnan(v)]
    return float(np.mean(ok)) if ok else float("nan")


def aggregate(results: list[Scored]) -> list[dict[str, Any]]:
    """One row per (dataset, label, budget): means over images; `images` counts the scored ones."""
    groups: dict[tuple, list[Scored]] = {}
    for r in results:
        groups.setdefault((r.dataset, r.label, r.budget), []).append(r)
    rows = []
    for (dataset, label, budget), rs in groups.items():
        ok = [r for r in rs if r.error is None]
        row: dict[str, Any] = {"dataset": dataset, "label": label, "method": rs[0].method, "budget": budget,
                               "images": len(ok), "failed": len(rs) - len(ok),
                               "queries": _mean([r.queries for r in ok]),
                               "seconds_per_image": _mean([r.seconds for r in ok])}
        for key in SCORES:
            row[key] = _mean([getattr(r, key) for r in ok])
        with_d = [r for r in ok if r.distractor]
        row["pointing_with_distractor"] = _mean([r.pointing for r in with_d])
        if len(ok) < len(rs):
            row["error"] = next(r.error for r in rs if r.error)
        rows.append(row)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """The printed table: one block per data set."""
    head = (f"{'method':24s} {'budget':>6s} {'queries':>8s} {'point':>6s} {'pt+dis':>6s} {'energy':>6s} "
            f"{'locerr':>6s} {'del':>6s} {'ins':>6s} {'s/img':>7s} {'n':>3s}")
    lines = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        lines += [f"== {dataset} ==", head]
        for r in (r for r in rows if r["dataset"] == dataset):
            if r["images"] == 0:
                lines.append(f"{r['label']:24s} {r['budget'] or '-':>6} failed: {r.get('error', '')}")
                continue
            lines.append(
                f"{r['label']:24s} {r['budget'] or '-':>6} {r['queries']:8.0f} {r['pointing']:6.3f} "
                f"{r['pointing_with_distractor']:6.3f} {r['energy']:6.3f} {r['loc_error']:6.3f} "
                f"{r['deletion']:6.3f} {r['insertion']:6.3f} {r['seconds_per_image']:7.3f} {r['images']:3d}")
    return "\n".join(lines)


def report(config: dict[str, Any], results: list[Scored]) -> dict[str, Any]:
    """Everything for --json: the settings, the averaged rows and every image's scores."""
    return {"config": config, "rows": aggregate(results), "per_image": [asdict(r) for r in results]}


def jsonable(value: Any) -> Any:
    """NaN (a metric with no scored image) becomes null, which JSON has and NaN is not."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value
