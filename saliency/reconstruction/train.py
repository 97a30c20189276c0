"""Train a DCGAN on a folder of images or on planted-object images: epochs, sample grids, resume.

Radford et al.'s recipe: Adam (lr 2e-4, beta1 0.5), the non-saturating generator loss,
z ~ U(-1, 1)^nz (uniform, like the latent search that later uses the generator). Two standard
stabilisers, both options: one-sided label smoothing (real target 0.9, Salimans et al. 2016) and
instance noise (Gaussian noise on every image the discriminator sees, Sonderby et al. 2017). On
planted images, plain DCGANs trained for the few thousand steps a CPU affords drew every object
at one or two places (mode collapse); with noise of std 0.1 on images in [-1, 1], which hides the
data's fine pixel noise from the discriminator so that it judges shapes and colours, the objects
moved about and the in-fills kept the class far more often (docs/benchmarks.md, Reconstruction).

Each epoch's shuffle, latents and noise derive from (seed, epoch), so a run resumed from its
checkpoint ends with the same weights as one that never stopped.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset, TensorDataset
from torchvision.utils import save_image

from saliency.errors import SaliencyError
from saliency.reconstruction.checkpoint import read as read_checkpoint
from saliency.reconstruction.dcgan import FORMAT, GanConfig, build, save_checkpoint

EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"}
SAMPLE_GRID = 64  # fixed latents drawn once per run, rendered after every epoch


@dataclass(frozen=True)
class TrainOptions:
    epochs: int = 5
    batch_size: int = 64
    lr: float = 2e-4
    beta1: float = 0.5
    seed: int = 0
    workers: int = 0  # DataLoader processes for folder images
    real_label: float = 0.9  # one-sided label smoothing (Salimans et al. 2016); 1.0 = plain DCGAN
    instance_noise: float = 0.0  # std of Gaussian noise added to every image the discriminator sees


class FolderImages(Dataset):
    """Every image under `root` (recursively), centre-cropped to a square and resized, in [-1, 1]."""

    def __init__(self, root: Path, size: int) -> None:
        self.files = sorted(p for p in Path(root).rglob("*") if p.suffix.lower() in EXTENSIONS)
        if not self.files:
            raise SaliencyError(f"no images ({', '.join(sorted(EXTENSIONS))}) under {root}")
        self.size = size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor]:
        with Image.open(self.files[i]) as img:
            img = img.convert("RGB")
            side = min(img.size)
            left, top = (img.width - side) // 2, (img.height - side) // 2
            img = img.crop((left, top, left + side, top + side)).resize((self.size, self.size), Image.BICUBIC)
            x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1)
        return (x,)


def planted_images(n: int, size: int, seed: int = 0) -> TensorDataset:
    """The planted-object distribution the tiny classifier is trained on (same empty rate)."""
    from saliency.data.planted import make_planted

    data = make_planted(n, size=size, seed=seed, empty_rate=0.25)
    return TensorDataset(torch.from_numpy(data.images) * 2 - 1)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The shuffling and noise of one epoch: resuming at any epoch draws what a straight run would."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def train_gan(data: Dataset, cfg: GanConfig, out: Path, opts: TrainOptions = TrainOptions(),
              device: str | torch.device = "cpu", samples_dir: Path | None = None, resume: bool = True,
              progress: Callable[[float], None] | None = None,
              log: Callable[[str], None] | None = None) -> dict[str, float]:
    """Train until `opts.epochs` epochs are done, checkpointing to `out` after each.

    With `resume` and an existing `out`, training continues from its last finished epoch (the
    configuration must match). Returns the last epoch's mean losses.
    """
    dev = torch.device(device)
    g, d = build(cfg, seed=opts.seed)
    opt_g = torch.optim.Adam(g.parameters(), lr=opts.lr, betas=(opts.beta1, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=opts.lr, betas=(opts.beta1, 0.999))
    done = 0
    if resume and out.exists():
        state = read_checkpoint(out)
        if state.get("format") != FORMAT or state["config"] != asdict(cfg):
            raise SaliencyError(f"{out} holds {state.get('format')} {state['config']}, not a DCGAN with {asdict(cfg)}; "
                                "choose another --out or the same settings")
        g.load_state_dict(state["generator"])
        d.load_state_dict(state["discriminator"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        done = int(state["epochs"])
        if log:
            log(f"resuming {out} after epoch {done}")
    g.to(dev).train()
    d.to(dev).train()
    optimiser_to(opt_g, dev)
    optimiser_to(opt_d, dev)
    fixed = torch.rand(SAMPLE_GRID, cfg.nz, generator=epoch_generator(opts.seed, -1)) * 2 - 1
    batches = -(-len(data) // opts.batch_size)
    total = max(1, (opts.epochs - done) * batches)
    losses = {"loss_d": float("nan"), "loss_g": float("nan")}
    step = 0
    for epoch in range(done, opts.epochs):
        gen = epoch_generator(opts.seed, epoch)
        loader = DataLoader(data, batch_size=opts.batch_size, shuffle=True, generator=gen,
                            num_workers=opts.workers, drop_last=False)
        sums = torch.zeros(2)
        for (real,) in loader:
            real = real.to(dev)
            z = (torch.rand(real.shape[0], cfg.nz, generator=gen) * 2 - 1).to(dev)
            fake = g(z)
            if opts.instance_noise > 0:
                real = real + opts.instance_noise * torch.randn(real.shape, generator=gen).to(dev)
                fake = fake + opts.instance_noise * torch.randn(fake.shape, generator=gen).to(dev)
            # Discriminator: real -> real_label, fake -> 0.
            loss_d = (F.binary_cross_entropy_with_logits(d(real), torch.full((len(real),), opts.real_label, device=dev))
                      + F.binary_cross_entropy_with_logits(d(fake.detach()), torch.zeros(len(real), device=dev)))
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            # Generator, non-saturating: maximise log D(G(z)).
            loss_g = F.binary_cross_entropy_with_logits(d(fake), torch.ones(len(real), device=dev))
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
            sums += torch.tensor([loss_d.item(), loss_g.item()])
            step += 1
            if progress:
                progress(step / total)
        losses = {"loss_d": float(sums[0] / batches), "loss_g": float(sums[1] / batches)}
        save_checkpoint(out, cfg, g, d, {"opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
                                         "epochs": epoch + 1, "train": asdict(opts), **losses})
        if samples_dir is not None:
            _sample_grid(g, fixed.to(dev), samples_dir / f"epoch_{epoch + 1:03d}.png")
        if log:
            log(f"epoch {epoch + 1}/{opts.epochs}: loss_d {losses['loss_d']:.3f} loss_g {losses['loss_g']:.3f}")
    return losses


def _sample_grid(g: torch.nn.Module, z: torch.Tensor, path: Path) -> None:
    """Samples in eval mode, as the latent search will see the generator."""
    g.eval()
    with torch.no_grad():
        images = g(z)
    g.train()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(images * 0.5 + 0.5, path, nrow=8, padding=1)


def optimiser_to(opt: torch.optim.Optimizer, dev: torch.device) -> None:
    """A resumed optimiser's state onto the training device."""
    for state in opt.state.values():
        for k, v in state.items():
            if isinstance(v, torch.Tensor):
                state[k] = v.to(dev)
