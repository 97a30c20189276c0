"""`saliency train-generator`: train the generator a model's reconstructions draw from: an in-painter
(`--kind inpainter`, the default, saliency.reconstruction.inpainter) or a DCGAN (`--kind dcgan`, the
paper's setting). The in-painter is the default because it keeps the class far more often at the
same training time (docs/benchmarks.md, "Reconstruction with an in-painter"); a DCGAN run started
before it resumes with `--kind dcgan` added (without it, its file is refused, not overwritten)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from saliency.errors import SaliencyError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-generator", help="train a generator (+ discriminator) for reconstructions: an "
                                               "in-painter or a DCGAN; checkpoint after every epoch, resumes from --out")
    p.add_argument("--kind", choices=("dcgan", "inpainter"), default="inpainter",
                   help="inpainter: G(z, context, mask), trained on holes; dcgan: G(z)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=Path, help="folder of images (searched recursively)")
    src.add_argument("--planted", type=int, metavar="N", help="train on N planted-object images instead")
    p.add_argument("--image-size", type=int, choices=(32, 64), default=64)
    p.add_argument("--out", type=Path, required=True, help="checkpoint file (state dicts + config)")
    p.add_argument("--epochs", type=int, default=5, help="total epochs; a resumed run trains the rest")
    p.add_argument("--batch-size", type=int, default=None, help="default: dcgan 64, inpainter 32")
    p.add_argument("--lr", type=float, default=None, help="Adam step; default: dcgan 2e-4, inpainter 5e-4")
    p.add_argument("--width", type=int, default=None, help="channels of the layers next to the image "
                                                            "(default: dcgan 64, inpainter 16)")
    p.add_argument("--nz", type=int, default=None, help="latent size (default: dcgan 100, inpainter 16)")
    p.add_argument("--mode-seeking", type=float, default=None,
                   help="inpainter: weight of the term that makes different z give different in-fills")
    p.add_argument("--real-label", type=float, default=0.9,
                   help="dcgan: discriminator target for real images (one-sided label smoothing; 1 = none)")
    p.add_argument("--instance-noise", type=float, default=0.1,
                   help="dcgan: std of noise added to the discriminator's inputs (images in [-1, 1])")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--samples", type=Path, default=None,
                   help="folder for one sample grid per epoch (default: <out>_samples/)")
    p.add_argument("--no-resume", action="store_true", help="start over even if --out exists")
    p.add_argument("--workers", type=int, default=0, help="image-loading processes for --data")
    p.add_argument("--device", default=None, help="cuda, cpu, ... (default: $SALIENCY_DEVICE, cuda if present)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads; 0 keeps the default")
    p.set_defaults(func=cmd)


def cmd(args: argparse.Namespace) -> None:
    import torch
    from tqdm import tqdm

    from saliency.models import default_device

    if args.threads:
        torch.set_num_threads(args.threads)
    samples = args.samples or args.out.with_name(args.out.stem + "_samples")
    device = args.device or default_device()
    bar = tqdm(total=1000, desc=f"{args.kind} {args.image_size}px", unit="‰", file=sys.stderr)
    kwargs = {"device": device, "samples_dir": samples, "resume": not args.no_resume,
              "progress": lambda f: bar.update(round(f * 1000) - bar.n), "log": bar.write}
    try:
        losses = _inpainter(args, kwargs) if args.kind == "inpainter" else _dcgan(args, kwargs)
    finally:
        bar.close()
    print(f"{args.out}  " + "  ".join(f"{k} {v:.3f}" for k, v in losses.items()) + f"  samples in {samples}/")


def _dcgan(args: argparse.Namespace, kwargs: dict) -> dict[str, float]:
    from saliency.reconstruction.dcgan import GanConfig
    from saliency.reconstruction.train import FolderImages, TrainOptions, planted_images, train_gan

    try:
        cfg = GanConfig(image_size=args.image_size, nz=args.nz or 100, width=args.width or 64)
    except ValueError as exc:
        raise SaliencyError(str(exc)) from None
    data = planted_images(args.planted, args.image_size, args.seed) if args.planted else FolderImages(args.data, args.image_size)
    opts = TrainOptions(epochs=args.epochs, batch_size=args.batch_size or 64, lr=args.lr or 2e-4, seed=args.seed,
                        workers=args.workers, real_label=args.real_label, instance_noise=args.instance_noise)
    return train_gan(data, cfg, args.out, opts, **kwargs)


def _inpainter(args: argparse.Namespace, kwargs: dict) -> dict[str, float]:
    from saliency.reconstruction.inpainter import InpainterConfig
    from saliency.reconstruction.train import FolderImages
    from saliency.reconstruction.train_inpainter import InpainterOptions, planted_with_boxes, train_inpainter

    defaults = InpainterConfig()
    try:
        cfg = InpainterConfig(image_size=args.image_size, nz=args.nz or defaults.nz, width=args.width or defaults.width)
    except ValueError as exc:
        raise SaliencyError(str(exc)) from None
    data = (planted_with_boxes(args.planted, args.image_size, args.seed) if args.planted
            else FolderImages(args.data, args.image_size))
    given = {"batch_size": args.batch_size, "lr": args.lr, "ms_weight": args.mode_seeking}
    opts = InpainterOptions(epochs=args.epochs, seed=args.seed, workers=args.workers,
                            **{k: v for k, v in given.items() if v is not None})
    return train_inpainter(data, cfg, args.out, opts, **kwargs)
