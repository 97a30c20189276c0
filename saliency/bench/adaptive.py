"""`saliency bench adaptive`: the adaptive stopping rule against fixed budgets, and whether the
stability predicts the map's quality.

For every image with ground truth (saliency.bench.cases) a reference map is drawn with many
queries (16000 by default) and another seed; then each setting (fixed budgets, adaptive targets)
runs with the benchmark's seed and is scored: queries spent, its stability, pointing game, energy,
deletion and insertion AUC (as `bench localisation` scores them) and the agreement with the
reference (Pearson correlation of the two maps at the model's resolution). Rows give the median
and 90th percentile of the queries and the means of the scores; `paired` compares every setting
with a baseline (fixed 4000) image by image (mean difference and its standard error);
`calibration` is the rank correlation (Spearman) over images between the stability and the
agreement, per fixed budget and pooled.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from saliency.bench.cases import Case
from saliency.methods import get_method
from saliency.metrics import deletion, energy_pointing_game, insertion, pointing_game
from saliency.metrics.sanity import pearson, spearman

SCORES = ("pointing", "energy", "deletion", "insertion", "agreement", "stability")


@dataclass(frozen=True)
class Setting:
    label: str  # "fixed 4000", "adaptive 0.9"
    params: dict[str, Any]


def settings(budgets: list[int], targets: list[float], max_queries: int, round_queries: int,
             seed: int, extra: dict[str, Any] | None = None) -> list[Setting]:
    base = {"seed": seed, **(extra or {})}
    out = [Setting(f"fixed {b}", {**base, "queries": b}) for b in budgets]
    out += [Setting(f"adaptive {t:g}", {**base, "target_stability": t, "max_queries": max_queries,
                                         "round_queries": round_queries}) for t in targets]
    return out


def _run(case: Case, method: str, params: dict[str, Any]) -> tuple[torch.Tensor, Any, float]:
    spec = get_method(method)
    start = time.perf_counter()
    out = spec.fn(case.model, case.x, torch.tensor([case.target], device=case.x.device), spec.parse_params(params))
    return out.maps[0].detach().float().cpu(), out, time.perf_counter() - start


def run_case(case: Case, method: str, plan: list[Setting], reference_queries: int, reference_seed: int,
             metric_batch: int = 64, extra: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every setting's scores on one image, each row naming the image and the setting."""
    ref, _, ref_seconds = _run(case, method, {**(extra or {}), "queries": reference_queries, "seed": reference_seed})
    rows = []
    for s in plan:
        small, out, seconds = _run(case, method, s.params)
        full = F.interpolate(small[None, None], size=case.size, mode="bilinear", align_corners=False)[0, 0].numpy()
        x_small = small.to(case.x.device)
        rows.append({
            "dataset": case.dataset, "image": case.name, "setting": s.label, "queries": out.queries,
            "stopped": out.stopped, "seconds": seconds, "reference_seconds": ref_seconds,
            "stability": float(out.stability[0]) if out.stability is not None else float("nan"),
            "agreement": pearson(small.numpy(), ref.numpy()),
            "pointing": float(pointing_game(full, case.boxes, case.tolerance)),
            "energy": energy_pointing_game(full, case.boxes),
            "deletion": deletion(case.model, case.x, x_small, case.target, batch_size=metric_batch).auc,
            "insertion": insertion(case.model, case.x, x_small, case.target, batch_size=metric_batch).auc,
        })
    return rows


def run_all(cases: list[Case], method: str, plan: list[Setting], reference_queries: int, reference_seed: int,
            metric_batch: int = 64, extra: dict[str, Any] | None = None,
            progress: Callable[[str, list[dict[str, Any]]], None] | None = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i, case in enumerate(cases):
        start = time.perf_counter()
        rows += run_case(case, method, plan, reference_queries, reference_seed, metric_batch, extra)
        if progress is not None:
            progress(f"[{i + 1}/{len(cases)}] {case.dataset}/{case.name}: {time.perf_counter() - start:.1f} s", rows)
    return rows


def _nanmean(values: list[float]) -> float:
    ok = [v for v in values if not math.isnan(v)]
    return float(np.mean(ok)) if ok else float("nan")


def aggregate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (dataset, setting): queries median / p90 / mean, score means, how runs stopped."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["setting"]), []).append(r)
    out = []
    for (dataset, setting), rs in groups.items():
        q = np.array([r["queries"] for r in rs], dtype=float)
        row = {"dataset": dataset, "setting": setting, "images": len(rs),
               "queries_median": float(np.median(q)), "queries_p90": float(np.percentile(q, 90)),
               "queries_mean": float(q.mean()), "seconds_mean": _nanmean([r["seconds"] for r in rs]),
               "reached": sum(r["stopped"] == "target" for r in rs)}
        for key in SCORES:
            row[key] = _nanmean([r[key] for r in rs])
        out.append(row)
    return out


def paired(rows: list[dict[str, Any]], baseline: str = "fixed 4000") -> list[dict[str, Any]]:
    """Each setting minus the baseline, image by image: mean difference and its standard error, per
    score. 'Not worse beyond noise' reads: mean difference > -2 standard errors."""
    by = {(r["dataset"], r["image"], r["setting"]): r for r in rows}
    out = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        for setting in dict.fromkeys(r["setting"] for r in rows if r["dataset"] == dataset):
            if setting == baseline:
                continue
            images = [i for (d, i, s) in by if d == dataset and s == setting and (d, i, baseline) in by]
            if not images:
                continue
            row: dict[str, Any] = {"dataset": dataset, "setting": setting, "baseline": baseline, "images": len(images)}
            for key in ("pointing", "energy", "deletion", "insertion", "agreement", "queries"):
                diff = np.array([by[(dataset, i, setting)][key] - by[(dataset, i, baseline)][key] for i in images],
                                dtype=float)
                diff = diff[~np.isnan(diff)]
                row[key] = float(diff.mean()) if len(diff) else float("nan")
                row[f"{key}_se"] = float(diff.std(ddof=1) / math.sqrt(len(diff))) if len(diff) > 1 else float("nan")
            out.append(row)
    return out


def calibration(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Spearman correlation over images between stability and agreement with the reference: per
    (dataset, setting) and, pooled over the fixed budgets, per dataset."""
    out = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        mine = [r for r in rows if r["dataset"] == dataset and not math.isnan(r["stability"])]
        groups = {s: [r for r in mine if r["setting"] == s] for s in dict.fromkeys(r["setting"] for r in mine)}
        groups["pooled fixed"] = [r for r in mine if r["setting"].startswith("fixed")]
        for setting, rs in groups.items():
            if len(rs) < 3:
                continue
            st = np.array([r["stability"] for r in rs])
            ag = np.array([r["agreement"] for r in rs])
            out.append({"dataset": dataset, "setting": setting, "n": len(rs), "spearman": spearman(st, ag),
                        "stability_mean": float(st.mean()), "agreement_mean": float(ag.mean()),
                        # the stability claims to be the correlation with another same-budget map;
                        # the reference has more queries, so agreement should be at least sqrt(stability)
                        "sqrt_stability_mean": float(np.sqrt(st).mean())})
    return out


def table(summary: list[dict[str, Any]], pairs: list[dict[str, Any]], calib: list[dict[str, Any]]) -> str:
    lines = []
    for dataset in dict.fromkeys(r["dataset"] for r in summary):
        lines += [f"== {dataset} ==",
                  f"{'setting':16s} {'q med':>7s} {'q p90':>7s} {'reach':>5s} {'stab':>6s} {'agree':>6s} "
                  f"{'point':>6s} {'energy':>6s} {'del':>6s} {'ins':>6s} {'s/img':>7s} {'n':>3s}"]
        for r in (r for r in summary if r["dataset"] == dataset):
            lines.append(f"{r['setting']:16s} {r['queries_median']:7.0f} {r['queries_p90']:7.0f} {r['reached']:5d} "
                         f"{r['stability']:6.3f} {r['agreement']:6.3f} {r['pointing']:6.3f} {r['energy']:6.3f} "
                         f"{r['deletion']:6.3f} {r['insertion']:6.3f} {r['seconds_mean']:7.2f} {r['images']:3d}")
        lines.append("  minus fixed 4000, per image (mean +- standard error):")
        for p in (p for p in pairs if p["dataset"] == dataset):
            lines.append("  " + f"{p['setting']:16s} " + "  ".join(
                f"{k} {p[k]:+.3f}+-{p[k + '_se']:.3f}" for k in ("agreement", "pointing", "energy", "deletion",
                                                                  "insertion")) + f"  queries {p['queries']:+.0f}")
        lines.append("  calibration, Spearman(stability, agreement with the reference) over images:")
        for c in (c for c in calib if c["dataset"] == dataset):
            lines.append(f"  {c['setting']:16s} rho {c['spearman']:+.3f}  n {c['n']:3d}  stability {c['stability_mean']:.3f}"
                         f"  agreement {c['agreement_mean']:.3f}")
    return "\n".join(lines)


def plot_calibration(rows: list[dict[str, Any]], path: Any) -> None:
    """Scatter of agreement with the reference against stability, one colour per setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    fig, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 4.2), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        mine = [r for r in rows if r["dataset"] == dataset]
        for setting in dict.fromkeys(r["setting"] for r in mine):
            rs = [r for r in mine if r["setting"] == setting]
            ax.scatter([r["stability"] for r in rs], [r["agreement"] for r in rs], s=12, label=setting,
                       marker="o" if setting.startswith("fixed") else "x")
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
        ax.set_xlabel("stability (split-half, Spearman-Brown)")
        ax.set_ylabel("agreement with the 16000-query reference (Pearson)")
        ax.set_title(dataset)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
