"""Quality against queries, one panel per (data set, metric), one line per method: a PNG.

matplotlib comes with the `bench` extra; only this module imports it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

PANELS = (("pointing", "pointing game (higher is better)"), ("energy", "energy pointing (higher)"),
          ("deletion", "deletion AUC (lower)"), ("insertion", "insertion AUC (higher)"))


def plot_quality(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    fig, axes = plt.subplots(len(datasets), len(PANELS), figsize=(4 * len(PANELS), 3.2 * len(datasets)),
                             squeeze=False)
    for i, dataset in enumerate(datasets):
        mine = [r for r in rows if r["dataset"] == dataset and r["images"] > 0]
        labels = list(dict.fromkeys(r["label"] for r in mine))
        for j, (key, title) in enumerate(PANELS):
            ax = axes[i][j]
            for label in labels:
                pts = sorted((r["queries"], r[key]) for r in mine if r["label"] == label)
                xs, ys = zip(*pts)
                ax.plot(xs, ys, marker="o" if len(pts) > 1 else "s", label=label)
            ax.set_xscale("log")
            ax.set_title(f"{dataset}: {title}", fontsize=9)
            ax.set_xlabel("queries per image")
            ax.grid(alpha=0.3)
        axes[i][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
