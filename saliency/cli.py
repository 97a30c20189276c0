"""`saliency`: explain images, list models, run benchmarks. Library errors print as one line."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
import numpy as np

from saliency.errors import SaliencyError


class _ProgressBar:
    """A stderr bar opened on the first update, so that errors raised before any work print alone."""

    def __init__(self, desc: str) -> None:
        self.desc, self.bar = desc, None

    def __call__(self, fraction: float) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=100, desc=self.desc, unit="%", file=sys.stderr)
        self.bar.update(round(fraction * 100) - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def cmd_explain(args: argparse.Namespace) -> None:
    from saliency.explain import explain
    from saliency.images import open_image
    from saliency.render import heatmap, overlay

    params = json.loads(args.params) if args.params else {}
    if not isinstance(params, dict):
        raise SaliencyError("--params must be a JSON object")
    for key in ("queries", "seed"):
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)
    image = open_image(Path(args.image))
    progress = _ProgressBar(f"{args.method} on {Path(args.image).name}")
    try:
        result = explain(image, model=args.model, method=args.method, target=args.target,
                         params=params, progress=progress, metrics=args.metrics)
    finally:
        progress.close()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "saliency.npy", result.saliency)
    heatmap(result.saliency).save(out / "saliency.png")
    overlay(image, result.saliency).save(out / "overlay.png")
    summary = result.summary()
    (out / "result.json").write_text(json.dumps(summary, indent=2) + "\n")
    t = result.target
    print(f"{t.label} ({t.index}) p={t.score:.3f}  {result.queries} queries  {result.seconds:.1f} s  -> {out}")
    for name, value in result.metrics.items():
        print(f"{name} AUC {value['auc']:.4f}  ({value['queries']} queries)")


def cmd_models(args: argparse.Namespace) -> None:
    from saliency.methods import methods_for
    from saliency.models import list_models

    specs = list_models()
    methods = {spec.name: ",".join(methods_for(spec.gradients)) for spec in specs}
    width = max(len(m) for m in methods.values())
    for spec in specs:
        h, w = spec.input_size
        print(f"{spec.name:28s} {h}x{w:<5d} {spec.source:11s} {methods[spec.name]:{width}s}  {spec.description}")


def cmd_bench_throughput(args: argparse.Namespace) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    from saliency.models import DEFAULT_MODEL

    parser = argparse.ArgumentParser(prog="saliency", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("explain", help="explain one image; writes saliency.npy/.png, overlay.png, result.json")
    p.add_argument("image")
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--target", default=None, help="class index or label; default: top-1")
    p.add_argument("--method", default="oise")
    p.add_argument("--queries", type=int, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--params", default=None, help='method options as JSON, e.g. \'{"chains": 1}\'')
    p.add_argument("--out", required=True)
    p.add_argument("--metrics", default=None, help="comma-separated metrics of the map, written to "
                   "result.json: deletion, insertion")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("models", help="list the model registry and the methods each supports")
    p.set_defaults(func=cmd_models)

    bench = sub.add_parser("bench", help="benchmarks that print figures").add_subparsers(dest="bench", required=True)
    p = bench.add_parser("throughput", help="model forward rate vs method query rate, and their ratio")
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--method", default="oise")
    p.add_argument("--batch", type=int, default=64, help="masks per forward pass (oise: chains)")
    p.add_argument("--steps", type=int, default=5, help="method steps per measurement")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads; 0 keeps the default")
    p.add_argument("--json", default=None, help="also write the figures to this file")
    p.set_defaults(func=cmd_bench_throughput)
    from saliency.bench.localisation_cli import add_parser as add_bench_localisation

    add_bench_localisation(bench)
    from app.loadbench import add_parser as add_bench_load  # the service's: app/ is installed alongside

    add_bench_load(bench)
    from saliency.bench.reconstruction import add_parser as add_bench_reconstruction
    from saliency.reconstruction.cli import add_parser as add_train_generator

    add_bench_reconstruction(bench)
    add_train_generator(sub)
    from saliency_client.cli import add_parsers as add_remote  # submit, status, fetch: a running service

    add_remote(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (SaliencyError, json.JSONDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
