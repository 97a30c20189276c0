"""`saliency bench throughput`: the model's forward rate against the method's query rate."""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def cmd_throughput(args: argparse.Namespace) -> None:
    import torch

    from saliency.bench.throughput import throughput
    from saliency.models import load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model(args.model, device=args.device)
    res = throughput(model, method=args.method, batch=args.batch, steps=args.steps, rounds=args.rounds)
    print(f"model {res['model']}  method {res['method']}  batch {res['batch']}  device {res['device']}")
    print(f"forward  {res['forward_images_per_s']:10.1f} images/s")
    print(f"method   {res['method_queries_per_s']:10.1f} queries/s")
    print(f"ratio    {res['ratio']:10.3f}")
    print(f"memory   {res['peak_mb_method'] - res['peak_mb_before']:10.0f} MiB peak added by the method "
          f"(process peak {res['peak_mb_method']:.0f} MiB)")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")


def add_parser(bench: argparse._SubParsersAction) -> None:
    from saliency.models import DEFAULT_MODEL

    p = bench.add_parser("throughput", help="model forward rate vs method query rate, and their ratio")
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--method", default="oise")
    p.add_argument("--batch", type=int, default=64, help="masks per forward pass (oise: chains)")
    p.add_argument("--steps", type=int, default=5, help="method steps per measurement")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads; 0 keeps the default")
    p.add_argument("--json", default=None, help="also write the figures to this file")
    p.set_defaults(func=cmd_throughput)
