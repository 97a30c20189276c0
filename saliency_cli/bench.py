"""`saliency bench throughput`: every runtime's forward rate against the method's query rate;
`saliency bench end-to-end`: a whole `saliency explain` against eager torch's forward passes."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _memory(m: dict[str, Any]) -> str:
    return f"{m['peak_mib']:7.0f} MiB (+{m['added_mib']:.0f})"


def report(res: dict[str, Any]) -> list[str]:
    """The run as the lines the command prints."""
    lines = [f"model {res['model']}  device {res['device']}  torch {res['torch']}"]
    if "remote" in res:
        r = res["remote"]
        lines.append(f"endpoint {r['endpoint']}  {r['protocol']}, {r['tensors']} tensors  max_batch {r['max_batch']}  "
                     f"in_flight {r['in_flight']}")
    lines.append(f"{'runtime':12s} {'version':>10s} {'chunk':>6s} {'max |dp|':>9s} {'forward img/s':>14s}  peak memory (added)")
    for r in res["runtimes"]:
        diff = "-" if r["max_prob_diff"] is None else f"{r['max_prob_diff']:.1g}"
        lines.append(f"{r['runtime']:12s} {r['version'].split('-')[0][:10]:>10s} {r['chunk']:6d} {diff:>9s} "
                     f"{r['rate']:14.1f}  {_memory(r)}")
    lines += [f"not run: {choice}: {why}" for choice, why in res["not_run"].items()]
    m, f, p = res["method_run"], res["forward_same_setting"], res["params"]
    lines.append(f"method {res['method']} ({p.get('chains', p.get('batch_size'))} chains, {p['queries']} queries) "
                 f"on {m['runtime']}, chunk {m['chunk']}: {m['rate']:.1f} queries/s  {_memory(m)}")
    lines.append(f"bare forward, same runtime and chunk: {f['rate']:.1f} images/s  {_memory(f)}")
    lines.append(f"ratio to the fastest runtime's forward ({res['fastest_runtime']}): {res['ratio']:.3f}")
    lines.append(f"memory, method / bare forward: peak {m['peak_mib'] / f['peak_mib']:.2f}x, "
                 f"added {m['added_mib'] / max(f['added_mib'], 1):.2f}x")
    return lines


def cmd_throughput(args: argparse.Namespace) -> None:
    import torch

    from saliency.bench.throughput import throughput
    from saliency.models import default_device

    if args.threads:
        torch.set_num_threads(args.threads)
    res = throughput(args.model, args.device or str(default_device()), method=args.method, chains=args.chains,
                     steps=args.steps, rounds=args.rounds, chunk=args.chunk, seconds=args.seconds)
    print("\n".join(report(res)))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")


def cmd_end_to_end(args: argparse.Namespace) -> None:
    import torch

    from saliency.bench.endtoend import end_to_end

    if args.threads:
        torch.set_num_threads(args.threads)
    res = end_to_end(args.model, queries=args.queries, batch=args.batch, runs=args.runs, device=args.device,
                     image=Path(args.image) if args.image else None)
    for i, run in enumerate(res["explain_runs"], 1):
        cache = "fresh runtime cache" if i == 1 else "warm cache"
        print(f"saliency explain run {i} ({cache}): {run['seconds']:.1f} s whole process, method "
              f"{run['method_seconds']:.1f} s, {run['queries']} queries on {run['runtime']}")
    print(f"eager torch, {res['queries']} bare forward passes at batch {res['batch']}: "
          f"{res['torch_forward_seconds']:.1f} s  ({res['threads']} threads)")
    print(f"ratio (warm) {res['ratio_warm']:.3f}   ratio (first run) {res['ratio_first']:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")


def add_parser(bench: argparse._SubParsersAction) -> None:
    from saliency.models import DEFAULT_MODEL

    p = bench.add_parser("end-to-end", help="a whole `saliency explain` process vs eager torch's bare "
                                            "forward passes over as many images")
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--queries", type=int, default=2000)
    p.add_argument("--batch", type=int, default=250, help="eager torch's images per forward pass")
    p.add_argument("--runs", type=int, default=2, help="explain runs; the first starts with an empty cache")
    p.add_argument("--image", default=None, help="default: a synthetic 400 x 300 picture")
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads, for both sides; 0: the default")
    p.add_argument("--json", default=None)
    p.set_defaults(func=cmd_end_to_end)

    p = bench.add_parser("throughput", help="every runtime's forward rate vs the method's query rate, "
                                            "and peak memory; each phase in a process of its own")
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--method", default="oise")
    p.add_argument("--chains", type=int, default=None, help="OISE chains (default: its default); RISE: "
                   "masks per step")
    p.add_argument("--steps", type=int, default=2, help="method steps per measurement")
    p.add_argument("--chunk", type=int, default=None, help="images per forward pass for every runtime "
                   "(default: each one's measured)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads; 0 keeps the default")
    p.add_argument("--seconds", type=float, default=5.0, help="bare forward passes timed per phase")
    p.add_argument("--json", default=None, help="also write the figures to this file")
    p.set_defaults(func=cmd_throughput)
