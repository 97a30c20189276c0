"""`saliency bench reconstruction`: how often the outcome holds when the salient box is in-filled.

Setting: planted-object images (32 px), the tiny CNN as the classifier (saliency.models.tiny,
cached by saliency.bench.tiny_cache), OISE maps, and a DCGAN trained on planted images by
`saliency train-generator --planted N --image-size 32` (cached under the same cache root, in
dcgan/). For each hidden share of the salient box and each objective (the paper's, and with the
outcome term) it reports the acceptance rate, the mean target probability, the diversity of the
variations inside the hole and, for scale, the diversity that near-copies of the original reach.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

DEFAULT_FRACTIONS = (0.1, 0.3, 0.5, 0.7, 0.9)


def add_parser(bench: argparse._SubParsersAction) -> None:
    p = bench.add_parser("reconstruction", help="acceptance, target probability and diversity of "
                                                "reconstructed salient regions, by share hidden")
    p.add_argument("--images", type=int, default=16, help="planted test images (objects only)")
    p.add_argument("--variations", type=int, default=16, help="K latents per image")
    p.add_argument("--steps", type=int, default=300, help="latent search steps")
    p.add_argument("--lr", type=float, default=0.05, help="Adam step on z")
    p.add_argument("--prior-weight", type=float, default=0.01)
    p.add_argument("--outcome-weight", type=float, default=10.0, help="weight of the outcome term in the "
                                                                      "second objective")
    p.add_argument("--diversity-weight", type=float, default=1.0, help="weight of the spread term "
                                                                        "(0 = the paper's objective)")
    p.add_argument("--window", type=int, default=None, help="context-weight window at 32 px (odd); "
                                                            "default the authors' 70/224 of it, 11")
    p.add_argument("--fractions", default=",".join(map(str, DEFAULT_FRACTIONS)),
                   help="shares of the salient box hidden, comma-separated")
    p.add_argument("--queries", type=int, default=1000, help="OISE queries per saliency map")
    p.add_argument("--gan-images", type=int, default=6000, help="planted images the DCGAN trains on")
    p.add_argument("--gan-epochs", type=int, default=30)
    p.add_argument("--gan-width", type=int, default=32)
    p.add_argument("--gan-batch", type=int, default=32)
    p.add_argument("--gan-noise", type=float, default=0.1, help="instance noise while training the DCGAN")
    p.add_argument("--tiny-images", type=int, default=3000, help="planted images the tiny classifier trains on")
    p.add_argument("--tiny-epochs", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads; 0 keeps the default")
    p.add_argument("--json", default=None, help="also write the configuration and the rows to this file")
    p.add_argument("--plot", default=None, help="PNG of the rows (needs matplotlib, the `bench` extra)")
    p.set_defaults(func=cmd)


def cached_generator(images: int, epochs: int, width: int, batch: int, noise: float, seed: int,
                     root: Path | None = None, device: str = "cpu") -> Path:
    """The planted-image DCGAN for these arguments, trained (as train-generator would) if absent.
    Trained on `device`; weights trained elsewhere than the CPU are cached under their own name,
    since the same seed gives other weights there."""
    from saliency.cachedir import cache_root
    from saliency.reconstruction.dcgan import GanConfig
    from saliency.reconstruction.train import TrainOptions, planted_images, train_gan

    key = f"planted32-n{images}-e{epochs}-w{width}-b{batch}-noise{noise:g}-seed{seed}-torch{torch.__version__}"
    if torch.device(device).type != "cpu":
        key += f"-{torch.device(device).type}"
    out = (root or cache_root()) / "dcgan" / f"{key}.pt"
    done = out.with_suffix(".done")
    if not done.exists():  # training resumes an interrupted run from its last epoch
        train_gan(planted_images(images, 32, seed), GanConfig(image_size=32, nz=100, width=width), out,
                  TrainOptions(epochs=epochs, batch_size=batch, seed=seed, instance_noise=noise),
                  device=device, samples_dir=out.with_name(out.stem + "_samples"), resume=True)
        done.write_text("")
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    from PIL import Image

    from saliency.bench.tiny_cache import cached_tiny
    from saliency.data.planted import make_planted
    from saliency.explain import explain
    from saliency.models.spec import LoadedModel
    from saliency.reconstruction import reconstruct_many
    from saliency.reconstruction.metrics import diversity, near_copies

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device or "cpu")
    start = time.perf_counter()
    tiny, accuracy = cached_tiny(size=32, n=args.tiny_images, epochs=args.tiny_epochs, seed=args.seed)
    gan = cached_generator(args.gan_images, args.gan_epochs, args.gan_width, args.gan_batch, args.gan_noise,
                           args.seed, device=str(device))
    train_s = time.perf_counter() - start
    net = LoadedModel(dataclasses.replace(tiny.spec, generator=gan), device)
    data = make_planted(args.images, size=32, seed=args.seed + 20_000, empty_rate=0.0)
    images = [Image.fromarray((im.transpose(1, 2, 0) * 255).round().astype(np.uint8)) for im in data.images]
    t = time.perf_counter()
    maps = [explain(im, net, "oise", params={"queries": args.queries, "seed": args.seed}).saliency for im in images]
    maps_s = time.perf_counter() - t
    rows = []
    for fraction in [float(f) for f in args.fractions.split(",")]:
        for weight in sorted({0.0, args.outcome_weight}):
            t = time.perf_counter()
            params = {"variations": args.variations, "steps": args.steps, "lr": args.lr, "hidden": fraction,
                      "prior_weight": args.prior_weight, "outcome_weight": weight, "seed": args.seed,
                      "diversity_weight": args.diversity_weight, "window": args.window}
            recs = reconstruct_many(images, maps, net, params=params)
            copies = []
            for r in recs:  # what K near-copies of the original would score on the same hole
                c = r.crop
                inside = torch.from_numpy(r.hole.mask(32, 32)[c.y0:c.y1, c.x0:c.x1])
                original = torch.from_numpy(r.image[c.y0:c.y1, c.x0:c.x1]).permute(2, 0, 1).float() / 255
                copies.append(diversity(near_copies(original, inside, args.variations, args.seed), inside))
            rows.append({
                "hidden": fraction, "outcome_weight": weight,
                "acceptance": float(np.mean([r.acceptance for r in recs])),
                "mean_target_probability": float(np.mean([r.mean_target_probability for r in recs])),
                "diversity": float(np.mean([r.diversity for r in recs])),
                "near_copy_diversity": float(np.mean(copies)),
                "near_copies": int(sum(r.near_copies for r in recs)),
                "distance_to_original": float(np.mean([v.distance_to_original for r in recs for v in r.variations])),
                "per_image_acceptance": [r.acceptance for r in recs],
                "acceptance_by_class": _by_class(recs, data.labels),
                "failed_as": _failed_as(recs),
                "seconds": time.perf_counter() - t,
            })
            print(_line(rows[-1]), flush=True)
    return {
        "config": {k: v for k, v in vars(args).items() if k != "func"},
        "classifier_accuracy": accuracy, "generator": str(gan), "setup_seconds": train_s,
        "saliency_seconds": maps_s, "variations_total": args.images * args.variations,
        "hardware": f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
                    f"{torch.get_num_threads()} threads, device {device}",
        "rows": rows, "seconds": time.perf_counter() - start,
    }


def _by_class(recs: list[Any], labels: np.ndarray) -> dict[str, float]:
    """Mean acceptance per planted class: the one figure that says which objects the generator
    cannot draw."""
    from saliency.data.planted import CLASSES

    out: dict[str, list[float]] = {}
    for r, label in zip(recs, labels):
        out.setdefault(CLASSES[int(label)], []).append(r.acceptance)
    return {c: float(np.mean(v)) for c, v in sorted(out.items())}


def _failed_as(recs: list[Any]) -> dict[str, int]:
    """What the classifier called the variations whose class did not hold."""
    out: dict[str, int] = {}
    for v in (v for r in recs for v in r.variations if not v.held):
        out[v.predicted.label] = out.get(v.predicted.label, 0) + 1
    return dict(sorted(out.items()))


HEADER = (f"{'hidden':>6} {'outcome_w':>9} {'accept':>7} {'p_target':>8} {'diversity':>9} "
          f"{'copy_div':>8} {'to_orig':>7} {'copies':>6} {'s':>6}")


def _line(r: dict[str, Any]) -> str:
    return (f"{r['hidden']:6.0%} {r['outcome_weight']:9.2f} {r['acceptance']:7.3f} "
            f"{r['mean_target_probability']:8.3f} {r['diversity']:9.4f} {r['near_copy_diversity']:8.4f} "
            f"{r['distance_to_original']:7.4f} {r['near_copies']:6d} {r['seconds']:6.0f}  "
            + " ".join(f"{c} {a:.2f}" for c, a in r["acceptance_by_class"].items())
            + "  failed as " + (", ".join(f"{c} {n}" for c, n in r["failed_as"].items()) or "-"))


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for weight in sorted({r["outcome_weight"] for r in result["rows"]}):
        mine = [r for r in result["rows"] if r["outcome_weight"] == weight]
        xs = [100 * r["hidden"] for r in mine]
        label = "paper's objective" if weight == 0 else f"with outcome term ({weight:g})"
        if result["config"].get("diversity_weight"):
            label += f", spread {result['config']['diversity_weight']:g}"
        for ax, key in zip(axes, ("acceptance", "mean_target_probability", "diversity")):
            ax.plot(xs, [r[key] for r in mine], marker="o", label=label)
    axes[2].plot(xs, [r["near_copy_diversity"] for r in mine], ls="--", c="grey", label="near-copies")
    for ax, title in zip(axes, ("acceptance (top-1 held)", "mean target probability", "diversity in the hole (RMS)")):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("% of the salient box hidden")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cmd(args: argparse.Namespace) -> None:
    print(HEADER)
    result = run(args)
    print(f"classifier accuracy {result['classifier_accuracy']:.3f}; {args.images} images x {args.variations} "
          f"variations; setup {result['setup_seconds']:.0f} s, maps {result['saliency_seconds']:.0f} s, "
          f"total {result['seconds']:.0f} s on {result['hardware']}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    if args.plot:
        plot(result, Path(args.plot))
