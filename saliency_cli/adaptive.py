"""`saliency bench adaptive`: its options, and the glue from them to saliency.bench.adaptive."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from saliency_cli.explain import json_object
from saliency_cli.localisation import csv_list  # one parser for comma-separated options


def add_parser(bench: argparse._SubParsersAction) -> None:
    p = bench.add_parser("adaptive", help="the adaptive stopping rule against fixed budgets (queries, pointing, "
                                          "energy, deletion, insertion, agreement with a reference map) and "
                                          "the calibration of the stability")
    p.add_argument("--datasets", default="planted,photos", help="comma-separated: planted, photos, pasted")
    p.add_argument("--method", default="oise", choices=["oise", "rise"])
    p.add_argument("--params", default=None, help="further method options as JSON, e.g. '{\"chains\": 16}'")
    p.add_argument("--budgets", default="1000,2000,4000,8000", help="fixed budgets, comma-separated")
    p.add_argument("--targets", default="0.9,0.95", help="target stabilities of the adaptive rule")
    p.add_argument("--max-queries", type=int, default=8000, help="the adaptive rule's cap")
    p.add_argument("--round-queries", type=int, default=500, help="the adaptive rule's round")
    p.add_argument("--reference", type=int, default=16000, help="queries of the reference map (another seed)")
    p.add_argument("--images", type=int, default=40, help="planted images")
    p.add_argument("--seed", type=int, default=0, help="planted images and the settings' seed; the "
                                                       "reference uses seed + 1000")
    p.add_argument("--photo-model", default="efficientnet_lite0")
    p.add_argument("--photo-names", default=None, help="comma-separated subset of the photos (default: all)")
    p.add_argument("--metric-batch", type=int, default=64)
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads; 0 keeps the default")
    p.add_argument("--json", default=None, help="rows, summary, paired differences, calibration; rewritten "
                                                "after every image, so a stopped run keeps what it measured")
    p.add_argument("--plot", default=None, help="PNG of agreement against stability (default: beside --json)")
    p.set_defaults(func=cmd)


def cmd(args: argparse.Namespace) -> None:
    import platform

    import torch

    from saliency.bench import adaptive as a
    from saliency.bench.cases import gather
    from saliency.bench.localisation import jsonable
    from saliency.models import default_device

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device) if args.device else default_device()
    datasets = csv_list(args.datasets)
    extra = json_object(args.params, "--params")
    plan = a.settings([int(b) for b in csv_list(args.budgets)], [float(t) for t in csv_list(args.targets)],
                      args.max_queries, args.round_queries, args.seed, extra)
    cases, config = gather(datasets, device, args.images, args.seed, args.photo_model,
                           csv_list(args.photo_names) or None)
    config.update({"command": " ".join(sys.argv), "method": args.method, "params": extra,
                   "settings": [s.label for s in plan], "reference": args.reference, "seed": args.seed,
                   "device": torch.cuda.get_device_name(device) if device.type == "cuda"
                   else f"{platform.processor() or platform.machine()}, cpu x{torch.get_num_threads()} threads",
                   "torch": torch.__version__})

    def write(rows):
        if args.json:
            out = {"config": config, "summary": a.aggregate(rows), "paired": a.paired(rows),
                   "calibration": a.calibration(rows), "rows": rows}
            Path(args.json).write_text(json.dumps(jsonable(out), indent=1) + "\n")

    def progress(message, rows):
        print(message, file=sys.stderr, flush=True)
        write(rows)

    rows = a.run_all(cases, args.method, plan, args.reference, args.seed + 1000, args.metric_batch, extra, progress)
    write(rows)
    print(a.table(a.aggregate(rows), a.paired(rows), a.calibration(rows)))
    plot = args.plot or (str(Path(args.json).with_suffix(".png")) if args.json else None)
    if plot:
        a.plot_calibration(rows, Path(plot))
        print(f"plot -> {plot}", file=sys.stderr)
