"""`saliency explain` and `saliency models`: the library on one image, and the model registry."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from saliency.errors import SaliencyError


class ProgressBar:
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


def json_object(raw: str | None, flag: str) -> dict[str, Any]:
    """A JSON-object flag's value, or an error that shows valid input."""
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SaliencyError(f"{flag} is not valid JSON ({exc}); give an object, e.g. "
                            f"{flag} '{{\"chains\": 16, \"seed\": 1}}'") from None
    if not isinstance(value, dict):
        raise SaliencyError(f"{flag} must be a JSON object, e.g. {flag} '{{\"queries\": 500}}'")
    return value


def cmd_explain(args: argparse.Namespace) -> None:
    import numpy as np

    from saliency.explanation import explain
    from saliency.images import open_image
    from saliency.render import heatmap, overlay

    params = json_object(args.params, "--params")
    for key in ("queries", "seed", "target_stability", "max_queries"):
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)
    image = open_image(Path(args.image))
    progress = ProgressBar(f"{args.method} on {Path(args.image).name}")
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
    if result.uncertainty is not None:
        np.save(out / "uncertainty.npy", result.uncertainty)
        heatmap(result.uncertainty).save(out / "uncertainty.png")
    (out / "result.json").write_text(json.dumps(result.summary(), indent=2) + "\n")
    t = result.target
    print(f"{t.label} ({t.index}) p={t.score:.3f}  {result.queries} queries  {result.seconds:.1f} s  "
          f"on {result.runtime}  -> {out}")
    if result.stopped is not None:
        stab = "n/a" if result.stability is None else f"{result.stability:.3f}"
        print(f"stability {stab}  (stopped: {result.stopped})")
    for name, value in result.metrics.items():
        print(f"{name} AUC {value['auc']:.4f}  ({value['queries']} queries)")


def cmd_models(args: argparse.Namespace) -> None:
    from saliency.models import describe, list_models

    if args.download:
        from saliency.models import download_weights

        print(download_weights(args.download))
        return
    infos = [describe(spec) for spec in list_models()]
    width = max(len(",".join(i.methods)) for i in infos)
    for info in infos:
        h, w = info.input_size
        state = "" if info.available else f"  [not runnable here: {info.unavailable_reason}]"
        print(f"{info.name:28s} {h}x{w:<5d} {info.source:11s} {','.join(info.methods):{width}s}  "
              f"{info.description}{state}")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    from saliency.models import DEFAULT_MODEL

    p = sub.add_parser("explain", help="explain one image; writes saliency.npy/.png, overlay.png, result.json "
                                       "and, for oise and rise, uncertainty.npy/.png")
    p.add_argument("image")
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--target", default=None, help="class index or label; default: top-1")
    p.add_argument("--method", default="oise")
    p.add_argument("--queries", type=int, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--target-stability", type=float, default=None,
                   help="oise, rise: query in rounds until the map's stability reaches this (0..1)")
    p.add_argument("--max-queries", type=int, default=None, help="oise, rise: the cap of --target-stability")
    p.add_argument("--params", default=None, help='method options as JSON, e.g. \'{"chains": 1}\'')
    p.add_argument("--out", required=True)
    p.add_argument("--metrics", default=None, help="comma-separated metrics of the map, written to "
                   "result.json: deletion, insertion")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("models", help="list the model registry, the methods each supports, and whether "
                                      "it can run here")
    p.add_argument("--download", metavar="NAME", default=None,
                   help="fetch a torchvision model's weights into the torch hub cache (needs a network)")
    p.set_defaults(func=cmd_models)
