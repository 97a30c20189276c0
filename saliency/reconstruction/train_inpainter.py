"""Train the in-painter (inpainter.py) on a folder of images or on planted-object images.

Each step draws a hole per image (holes.py) and two latents z1, z2 ~ U(-1, 1) per image, and
minimises for the generator

    rec_weight * L1 in the hole (both in-fills)           Pathak et al.'s reconstruction term
  + adv_weight * softplus(-D(composite, mask))            non-saturating adversarial term
  + ms_weight / min(ms_cap, mean |G(z1) - G(z2)| in the hole / mean |z1 - z2|)
                                                          mode seeking (Mao et al. 2019), capped
                                                          per image (Yang et al. 2019)

and for the discriminator the non-saturating loss on real images against the composites
mask * x + (1 - mask) * G(z), each with the hole's mask. Adam (beta1 0.5), as for the DCGAN.
The L1 term alone pulls every z to the same in-fill (the context's median); the mode-seeking term
pays when two latents' in-fills are close, so the generator uses z. Uncapped it kept paying for
ever larger differences, and the generator bought them with odd colours inside rings and crosses;
the cap stops it once two in-fills differ about as much as two plausible ones.

Latents: the search clips z to [-1, 1] and ends with most coordinates on the box's faces (56 to 65%
of them after 300 Adam steps on planted objects), where z ~ U(-1, 1) almost never lies. So each
coordinate is drawn at -1 or 1 with probability `z_saturate` and uniformly otherwise: the
generator learns to draw plausible in-fills where the search will look.

Like train.py: each epoch's shuffle, holes and latents derive from (seed, epoch), a checkpoint is
written after every epoch, and a resumed run ends with the weights of one that never stopped. The
checkpoint keeps the training seconds summed over sessions (`train_seconds`), which the benchmark
reports. After every epoch a sample grid: 8 held images, each row the context with its hole in
grey, then 7 in-fills from fixed latents.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, TensorDataset
from torchvision.utils import save_image

from saliency.errors import SaliencyError
from saliency.reconstruction.checkpoint import read as read_checkpoint
from saliency.reconstruction.holes import known_masks
from saliency.reconstruction.train import epoch_generator, optimiser_to
from saliency.reconstruction.inpainter import FORMAT, InpainterConfig, build_inpainter, save_inpainter

GRID_ROWS, GRID_LATENTS = 8, 7


@dataclass(frozen=True)
class InpainterOptions:
    epochs: int = 20
    batch_size: int = 32
    lr: float = 5e-4  # 2.5 times the DCGAN's: the L1 term tolerates it, and a CPU affords few steps
    beta1: float = 0.5
    seed: int = 0
    workers: int = 0  # DataLoader processes for folder images
    rec_weight: float = 1.0
    adv_weight: float = 0.3
    ms_weight: float = 0.01  # at 0.05 z mostly changed the object's colour, which changes its class
    ms_cap: float = 0.2  # mean |in-fill difference| per mean |z difference|, both in [-1, 1] units
    z_saturate: float = 0.5
    random_holes: float = 0.3  # share of random boxes where the data has object boxes


def planted_with_boxes(n: int, size: int, seed: int = 0) -> TensorDataset:
    """Planted-object images in [-1, 1] and their objects' boxes (zeros when empty), as the tiny
    classifier's training data (same empty rate)."""
    from saliency.data.planted import make_planted

    data = make_planted(n, size=size, seed=seed, empty_rate=0.25)
    return TensorDataset(torch.from_numpy(data.images) * 2 - 1, torch.from_numpy(data.boxes))


def latents(n: int, nz: int, gen: torch.Generator, saturate: float) -> torch.Tensor:
    """(n, nz) in [-1, 1]: each coordinate -1 or 1 with probability `saturate`, else uniform."""
    z = torch.rand(n, nz, generator=gen) * 2 - 1
    edge = torch.rand(n, nz, generator=gen) < saturate
    return torch.where(edge, z.sign(), z)


def train_step(g: torch.nn.Module, d: torch.nn.Module, opt_g: torch.optim.Optimizer,
               opt_d: torch.optim.Optimizer, x: torch.Tensor, known: torch.Tensor, z: torch.Tensor,
               opts: InpainterOptions) -> dict[str, float]:
    """One batch: x (B, 3, S, S) in [-1, 1], known (B, 1, S, S), z (2B, nz); the discriminator
    steps first, then the generator against the updated discriminator. Returns the losses."""
    b = x.shape[0]
    xx, kk = x.repeat(2, 1, 1, 1), known.repeat(2, 1, 1, 1)
    comp = g(z, xx, kk)  # the composite: x on known pixels
    loss_d = F.softplus(-d(x, known)).mean() + F.softplus(d(comp.detach(), kk)).mean()
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    hole = 1 - kk
    per_fill = ((comp - xx).abs() * hole).flatten(1).sum(1) / (3 * hole.flatten(1).sum(1)).clamp_min(1)
    rec = per_fill.mean()
    adv = F.softplus(-d(comp, kk)).mean()
    per_image = (3 * hole[:b].flatten(1).sum(1)).clamp_min(1)
    apart = (comp[:b] - comp[b:]).abs().flatten(1).sum(1) / per_image  # known pixels are equal
    ratio = apart / (z[:b] - z[b:]).abs().mean(1).clamp_min(1e-3)
    ratio = ratio.clamp(max=opts.ms_cap).mean()
    loss_g = opts.rec_weight * rec + opts.adv_weight * adv + opts.ms_weight / (ratio + 1e-5)
    opt_g.zero_grad()
    loss_g.backward()  # also fills D's gradients; D's next step clears them first
    opt_g.step()
    return {"loss_d": loss_d.item(), "rec": rec.item(), "adv": adv.item(), "ms_ratio": ratio.item()}


def train_inpainter(data: Dataset, cfg: InpainterConfig, out: Path, opts: InpainterOptions = InpainterOptions(),
                    device: str | torch.device = "cpu", samples_dir: Path | None = None, resume: bool = True,
                    progress: Callable[[float], None] | None = None,
                    log: Callable[[str], None] | None = None) -> dict[str, float]:
    """Train until `opts.epochs` epochs are done, checkpointing to `out` after each. `data` yields
    (image,) or (image, box) in [-1, 1]; with boxes, holes are shaped like the service's.

    With `resume` and an existing `out`, training continues from its last finished epoch (the
    configuration must match). Returns the last epoch's mean losses and `train_seconds`."""
    start = time.perf_counter()
    dev = torch.device(device)
    g, d = build_inpainter(cfg, seed=opts.seed)
    opt_g = torch.optim.Adam(g.parameters(), lr=opts.lr, betas=(opts.beta1, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=opts.lr, betas=(opts.beta1, 0.999))
    done, before = 0, 0.0
    if resume and out.exists():
        state = read_checkpoint(out)
        if state.get("format") != FORMAT or state["config"] != asdict(cfg):
            raise SaliencyError(f"{out} holds {state.get('format')} {state.get('config')}, not an in-painter "
                                f"with {asdict(cfg)}; choose another --out or the same settings"
                                + (" (a DCGAN's file: add --kind dcgan)" if state.get("format") != FORMAT else ""))
        g.load_state_dict(state["generator"])
        d.load_state_dict(state["discriminator"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        done, before = int(state["epochs"]), float(state["train_seconds"])
        if log:
            log(f"resuming {out} after epoch {done}")
    g.to(dev).train()
    d.to(dev).train()
    for opt in (opt_g, opt_d):
        optimiser_to(opt, dev)
    grid = _grid_inputs(data, cfg, opts.seed, opts.random_holes)
    batches = -(-len(data) // opts.batch_size)
    total = max(1, (opts.epochs - done) * batches)
    losses: dict[str, float] = {}
    step = 0
    for epoch in range(done, opts.epochs):
        gen = epoch_generator(opts.seed, epoch)
        loader = DataLoader(data, batch_size=opts.batch_size, shuffle=True, generator=gen,
                            num_workers=opts.workers, drop_last=False)
        sums: dict[str, float] = {}
        for batch in loader:
            x = batch[0]
            known = known_masks(len(x), cfg.image_size, gen, batch[1] if len(batch) > 1 else None,
                                opts.random_holes)
            z = latents(2 * len(x), cfg.nz, gen, opts.z_saturate)
            parts = train_step(g, d, opt_g, opt_d, x.to(dev), known.to(dev), z.to(dev), opts)
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
            step += 1
            if progress:
                progress(step / total)
        losses = {k: v / batches for k, v in sums.items()}
        seconds = before + time.perf_counter() - start
        save_inpainter(out, cfg, g, d, {"opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
                                        "epochs": epoch + 1, "train": asdict(opts), "train_seconds": seconds,
                                        **losses})
        if samples_dir is not None:
            sample_grid(g, *grid, samples_dir / f"epoch_{epoch + 1:03d}.png")
        if log:
            log(f"epoch {epoch + 1}/{opts.epochs}: " + " ".join(f"{k} {v:.3f}" for k, v in losses.items())
                + f" ({seconds:.0f} s in all)")
    return {**losses, "train_seconds": before + time.perf_counter() - start}


def _grid_inputs(data: Dataset, cfg: InpainterConfig, seed: int,
                 random_share: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The first GRID_ROWS images, their holes and GRID_LATENTS latents, fixed for the whole run."""
    gen = epoch_generator(seed, -1)
    items = [data[i] for i in range(min(GRID_ROWS, len(data)))]
    x = torch.stack([it[0] for it in items])
    boxes = torch.stack([torch.as_tensor(it[1]) for it in items]) if len(items[0]) > 1 else None
    known = known_masks(len(x), cfg.image_size, gen, boxes, random_share)
    z = latents(GRID_LATENTS, cfg.nz, gen, 0.5)
    return x, known, z


def sample_grid(g: torch.nn.Module, x: torch.Tensor, known: torch.Tensor, z: torch.Tensor, path: Path) -> None:
    """One row per image: the context (hole grey), then its in-fills for the fixed latents."""
    dev = next(g.parameters()).device
    was = g.training
    g.eval()
    rows = []
    with torch.no_grad():
        for i in range(len(x)):
            xi, ki = x[i:i + 1].to(dev), known[i:i + 1].to(dev)
            fills = g(z.to(dev), xi.expand(len(z), -1, -1, -1), ki.expand(len(z), -1, -1, -1))
            rows += [xi * ki, fills]
    g.train(was)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(torch.cat(rows) * 0.5 + 0.5, path, nrow=1 + len(z), padding=1)
