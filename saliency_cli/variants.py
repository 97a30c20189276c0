"""`saliency bench variants`: its options, and the printing of saliency.bench.variants.compare."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from saliency_cli.localisation import csv_list


def cmd(args: argparse.Namespace) -> None:
    import tempfile

    import torch

    from saliency.bench.variants import VARIANTS, compare

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    hardware = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu x{torch.get_num_threads()} threads"
    variants = csv_list(args.variants) or list(VARIANTS)
    if "eager" not in variants:
        variants.insert(0, "eager")  # the reference the maps are compared with
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in csv_list(args.models):
            res = compare(name, device, variants, [int(b) for b in csv_list(args.batches)], args.seconds,
                          args.images, args.queries, args.min_pearson, Path(tmp))
            results.append(res)
            print(f"\n{name} ({res['input_size'][0]} px){' - ' + res['note'] if res['note'] else ''} on "
                  f"{hardware}, torch {torch.__version__}: images/s by batch")
            for row in res["rows"]:
                shown = row.get("error") or "  ".join(f"{b}: {v}" for b, v in row["images_per_s"].items())
                prep = f"  (prepared in {row['prepare_s']} s)" if "prepare_s" in row else ""
                print(f"  {row['variant']:20s} {shown}{prep}")
            verdict = "adoptable" if res["adoptable"] else f"NOT adoptable (Pearson < {args.min_pearson})"
            print(f"  fastest: {res['fastest']} at batch {res['fastest_batch']}; OISE maps vs fp32 eager, "
                  f"Pearson per picture {res['pearson_vs_eager']}: {verdict}")
    if args.json:
        Path(args.json).write_text(json.dumps({"device": hardware, "torch": torch.__version__,
                                               "models": results}, indent=2) + "\n")


def add_parser(bench: argparse._SubParsersAction) -> None:
    p = bench.add_parser("variants", help="fp32 eager vs channels_last + bf16/fp16 autocast vs ONNX Runtime vs "
                                          "torch.compile: speed by batch, and the fastest one's maps vs fp32")
    p.add_argument("--models", default="efficientnet_lite0,resnet50")
    p.add_argument("--variants", default=None, help="comma-separated (default: all: eager, channels_last_bf16, "
                                                "channels_last_fp16, onnxruntime, compile)")
    p.add_argument("--batches", default="64,128,256,512,1024")
    p.add_argument("--seconds", type=float, default=1.0, help="timed per variant and batch, after a warm-up")
    p.add_argument("--images", type=int, default=4, help="pictures whose maps are compared")
    p.add_argument("--queries", type=int, default=2000, help="OISE queries per map")
    p.add_argument("--min-pearson", type=float, default=0.99)
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--json", default=None)
    p.set_defaults(func=cmd)
