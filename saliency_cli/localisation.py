"""`saliency bench localisation`: its options, and the glue from them to the library's run."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEFAULT_IMAGES, QUICK_IMAGES = 100, 8


def add_parser(bench: argparse._SubParsersAction) -> None:
    p = bench.add_parser("localisation", help="pointing game, energy, deletion/insertion AUC of every method "
                                              "at equal query budgets, on planted objects and real photos")
    p.add_argument("--quick", action="store_true",
                   help=f"a small run: {QUICK_IMAGES} planted images, budgets 250,1000, no photos unless --photos")
    p.add_argument("--photos", action="store_true", help="with --quick: also the scikit-image photos")
    p.add_argument("--datasets", default=None, help="comma-separated: planted, photos, pasted (photo objects "
                                                    "pasted on other photos) (default: planted, photos; "
                                                    "--quick: planted)")
    p.add_argument("--methods", default=None, help="comma-separated; default: every registered method")
    p.add_argument("--budgets", default=None, help="queries per image, comma-separated "
                                                   "(default 250,500,1000,2000,5000)")
    p.add_argument("--oise-variants", default=None,
                   help="comma-separated OISE presets: default, authors (1 chain, unweighted), unweighted, or "
                        "option=value pairs joined by '+' (chains=16, refine_grid=16, chains=16+refine_grid=16) "
                        "(default: default,authors,unweighted)")
    p.add_argument("--images", type=int, default=None, help=f"planted images (default {DEFAULT_IMAGES}; "
                                                            f"--quick {QUICK_IMAGES})")
    p.add_argument("--seed", type=int, default=0, help="planted images and method seeds")
    p.add_argument("--photo-model", default="efficientnet_lite0")
    p.add_argument("--photo-names", default=None, help="comma-separated subset of the photos (default: all)")
    p.add_argument("--tiny-size", type=int, default=32, help="side of the planted images and the tiny CNN")
    p.add_argument("--metric-batch", type=int, default=64, help="images per forward pass in deletion/insertion")
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads; 0 keeps the default")
    p.add_argument("--json", default=None, help="write the config, the table's rows and every image's scores")
    p.add_argument("--plot", default=None, help="PNG of quality against queries (default: beside --json)")
    p.set_defaults(func=cmd)


def csv_list(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def cmd(args: argparse.Namespace) -> None:
    import torch

    from saliency.bench.cases import gather
    from saliency.bench.localisation import jsonable, report, run_all, table
    from saliency.bench.runs import BUDGETS, DEFAULT_OISE_VARIANTS, QUICK_BUDGETS, plan
    from saliency.errors import SaliencyError
    from saliency.models import default_device

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device) if args.device else default_device()
    datasets = csv_list(args.datasets) or (["planted", "photos"] if not args.quick else
                                       ["planted"] + (["photos"] if args.photos else []))
    try:
        budgets = [int(b) for b in csv_list(args.budgets)] or list(QUICK_BUDGETS if args.quick else BUDGETS)
    except ValueError:
        raise SaliencyError(f"--budgets must be integers, got {args.budgets!r}") from None
    variants = csv_list(args.oise_variants) or list(DEFAULT_OISE_VARIANTS)
    methods = csv_list(args.methods) or None
    images = args.images or (QUICK_IMAGES if args.quick else DEFAULT_IMAGES)

    cases, config = gather(datasets, device, images, args.seed, args.photo_model,
                           csv_list(args.photo_names) or None, args.tiny_size)
    config.update({"budgets": budgets, "oise_variants": variants, "seed": args.seed,
                   "device": torch.cuda.get_device_name(device) if device.type == "cuda"
                   else f"cpu x{torch.get_num_threads()} threads", "torch": torch.__version__})
    if "tiny" in config:
        print(f"tiny CNN: held-out accuracy {config['tiny']['accuracy']:.3f} ({config['tiny']['cache']})",
              file=sys.stderr)
    plans = {}

    def runs_for(case):  # one plan per model: input size and gradients decide the parameters
        key = case.model.name
        if key not in plans:
            plans[key] = plan(methods, budgets, variants, args.seed, case.model.spec.input_size,
                              case.model.spec.gradients)
        return plans[key]

    results = run_all(cases, runs_for, args.metric_batch, progress=lambda m: print(m, file=sys.stderr, flush=True))
    out = report(config, results)
    print(table(out["rows"]))
    if args.json:
        Path(args.json).write_text(json.dumps(jsonable(out), indent=1) + "\n")
    plot = args.plot or (str(Path(args.json).with_suffix(".png")) if args.json else None)
    if plot:
        from saliency.bench.plot import plot_quality

        plot_quality(out["rows"], Path(plot))
        print(f"plot -> {plot}", file=sys.stderr)
