"""`saliency bench reconstruction`: its options, and the glue from them to the library's run
(saliency.bench.reconstruction)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(bench: argparse._SubParsersAction) -> None:
    from saliency.bench.reconstruction import DEFAULT_FRACTIONS, BenchConfig

    d = BenchConfig()
    p = bench.add_parser("reconstruction", help="acceptance, target probability and diversity of "
                                                "reconstructed salient regions, by share hidden")
    p.add_argument("--kinds", default=",".join(d.kinds),
                   help="generators compared, comma-separated: inpainter, dcgan")
    p.add_argument("--images", type=int, default=d.images, help="planted test images (objects only)")
    p.add_argument("--variations", type=int, default=d.variations, help="K latents per image")
    p.add_argument("--steps", type=int, default=d.steps, help="latent search steps")
    p.add_argument("--lr", type=float, default=d.lr, help="Adam step on z")
    p.add_argument("--prior-weight", type=float, default=d.prior_weight)
    p.add_argument("--outcome-weight", type=float, default=d.outcome_weight,
                   help="weight of the outcome term in the second objective")
    p.add_argument("--diversity-weight", type=float, default=d.diversity_weight,
                   help="weight of the spread term (0 = the paper's objective)")
    p.add_argument("--diversity-margin", type=float, default=d.diversity_margin,
                   help="RMS difference at which the spread term stops pushing two in-fills apart")
    p.add_argument("--window", type=int, default=d.window, help="context-weight window at 32 px (odd); "
                                                                "default the authors' 70/224 of it, 11")
    p.add_argument("--fractions", default=",".join(map(str, DEFAULT_FRACTIONS)),
                   help="shares of the salient box hidden, comma-separated")
    p.add_argument("--queries", type=int, default=d.queries, help="OISE queries per saliency map")
    p.add_argument("--gan-images", type=int, default=d.gan_images, help="planted images the DCGAN trains on")
    p.add_argument("--gan-epochs", type=int, default=d.gan_epochs)
    p.add_argument("--gan-width", type=int, default=d.gan_width)
    p.add_argument("--gan-batch", type=int, default=d.gan_batch)
    p.add_argument("--gan-noise", type=float, default=d.gan_noise, help="instance noise while training the DCGAN")
    p.add_argument("--inp-images", type=int, default=d.inp_images, help="planted images the in-painter trains on")
    p.add_argument("--inp-epochs", type=int, default=d.inp_epochs)
    p.add_argument("--inp-width", type=int, default=d.inp_width)
    p.add_argument("--inp-nz", type=int, default=d.inp_nz)
    p.add_argument("--inp-batch", type=int, default=d.inp_batch)
    p.add_argument("--tiny-images", type=int, default=d.tiny_images,
                   help="planted images the tiny classifier trains on")
    p.add_argument("--tiny-epochs", type=int, default=d.tiny_epochs)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads; 0 keeps the default")
    p.add_argument("--json", default=None, help="also write the configuration and the rows to this file")
    p.add_argument("--plot", default=None, help="PNG of the rows (needs matplotlib, the `bench` extra)")
    p.set_defaults(func=cmd)


def config(args: argparse.Namespace):  # -> BenchConfig
    """The library's configuration from the parsed options."""
    import dataclasses

    from saliency.bench.reconstruction import BenchConfig
    from saliency.errors import SaliencyError

    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(BenchConfig)
              if f.name not in ("kinds", "fractions")}
    try:
        fractions = tuple(float(f) for f in args.fractions.split(",") if f.strip())
    except ValueError:
        raise SaliencyError(f"--fractions must be numbers, got {args.fractions!r}") from None
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    return BenchConfig(kinds=kinds, fractions=fractions, **values)


def cmd(args: argparse.Namespace) -> None:
    import torch

    from saliency.bench.reconstruction import HEADER, line, plot, run

    cfg = config(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(HEADER, flush=True)
    result = run(cfg, on_row=lambda row: print(line(row), flush=True))
    trained = "; ".join(f"{k} {g['train_seconds'] / 60:.1f} min to train" if g["train_seconds"] is not None
                        else f"{k} training time unknown" for k, g in result["generators"].items())
    print(f"classifier accuracy {result['classifier_accuracy']:.3f}; {cfg.images} images x {cfg.variations} "
          f"variations; {trained}; setup {result['setup_seconds']:.0f} s, maps {result['saliency_seconds']:.0f} s, "
          f"total {result['seconds']:.0f} s on {result['hardware']}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    if args.plot:
        plot(result, Path(args.plot))
