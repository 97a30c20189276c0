"""`saliency train-generator`: train the DCGAN a model's reconstructions draw from."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from saliency.errors import SaliencyError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-generator", help="train a DCGAN (generator + discriminator) for reconstructions; "
                                               "checkpoint after every epoch, resumes from --out")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=Path, help="folder of images (searched recursively)")
    src.add_argument("--planted", type=int, metavar="N", help="train on N planted-object images instead")
    p.add_argument("--image-size", type=int, choices=(32, 64), default=64)
    p.add_argument("--out", type=Path, required=True, help="checkpoint file (state dicts + config)")
    p.add_argument("--epochs", type=int, default=5, help="total epochs; a resumed run trains the rest")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--width", type=int, default=64, help="channels of the layers next to the image")
    p.add_argument("--nz", type=int, default=100, help="latent size")
    p.add_argument("--real-label", type=float, default=0.9,
                   help="discriminator target for real images (one-sided label smoothing; 1 = none)")
    p.add_argument("--instance-noise", type=float, default=0.1,
                   help="std of noise added to the discriminator's inputs (images in [-1, 1])")
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
    from saliency.reconstruction.dcgan import GanConfig
    from saliency.reconstruction.train import FolderImages, TrainOptions, planted_images, train_gan

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        cfg = GanConfig(image_size=args.image_size, nz=args.nz, width=args.width)
    except ValueError as exc:
        raise SaliencyError(str(exc)) from None
    data = planted_images(args.planted, args.image_size, args.seed) if args.planted else FolderImages(args.data, args.image_size)
    samples = args.samples or args.out.with_name(args.out.stem + "_samples")
    opts = TrainOptions(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                        workers=args.workers, real_label=args.real_label, instance_noise=args.instance_noise)
    device = args.device or default_device()
    bar = tqdm(total=1000, desc=f"DCGAN {args.image_size}px on {len(data)} images", unit="‰", file=sys.stderr)
    try:
        losses = train_gan(data, cfg, args.out, opts, device=device, samples_dir=samples,
                           resume=not args.no_resume, progress=lambda f: bar.update(round(f * 1000) - bar.n),
                           log=bar.write)
    finally:
        bar.close()
    print(f"{args.out}  loss_d {losses['loss_d']:.3f}  loss_g {losses['loss_g']:.3f}  samples in {samples}/")
