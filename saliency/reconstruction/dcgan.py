"""DCGAN generator and discriminator (Radford et al. 2016) scaled to 32 or 64 px, and their file format.

Architecture as in the paper: the generator projects z (R^nz) to a 4x4 map and doubles the size with
stride-2 transposed convolutions (BatchNorm + ReLU, tanh output in [-1, 1]); the discriminator
mirrors it with stride-2 convolutions (LeakyReLU 0.2, BatchNorm except on the first layer) down to
4x4 and one logit. Channel widths halve per doubling, ending at `width` next to the image, so a
32 px pair has one stage fewer than a 64 px pair.

Checkpoint: a plain dict of tensors and numbers (config, both state dicts, optimiser states,
epochs done), written by `torch.save` and read back with `torch.load(weights_only=True)`, so loading
a file never runs pickled code.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from saliency.reconstruction import checkpoint

FORMAT = "saliency-dcgan/1"
SIZES = (32, 64)


@dataclass(frozen=True)
class SizedConfig:
    """What sizes a generator network: shared by the DCGAN and the in-painter (inpainter.py)."""

    image_size: int = 32
    nz: int = 100  # latent size
    width: int = 64  # channels of the stage next to the image (generator and discriminator)
    channels: int = 3

    def __post_init__(self) -> None:
        if self.image_size not in SIZES:
            raise ValueError(f"image_size must be one of {SIZES}, not {self.image_size}")

    @property
    def stages(self) -> int:
        """Stride-2 stages between 4x4 and the image: 3 at 32 px, 4 at 64 px."""
        return int(math.log2(self.image_size // 4))


@dataclass(frozen=True)
class GanConfig(SizedConfig):
    nz: int = 100  # latent size, the paper's
    width: int = 64  # channels of the stage next to the image (ngf = ndf)


class Generator(nn.Module):
    """z (N, nz) in [-1, 1]^nz -> images (N, 3, S, S) in [-1, 1]."""

    def __init__(self, cfg: GanConfig) -> None:
        super().__init__()
        self.nz = cfg.nz
        top = cfg.width * 2 ** (cfg.stages - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(cfg.nz, top, 4, 1, 0, bias=False),
                                   nn.BatchNorm2d(top), nn.ReLU(True)]
        ch = top
        for _ in range(cfg.stages - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2),
                       nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, cfg.channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])


class Discriminator(nn.Module):
    """images (N, 3, S, S) in [-1, 1] -> logits (N,); D(x) = sigmoid(logit) = P(x is real)."""

    def __init__(self, cfg: GanConfig) -> None:
        super().__init__()
        ch = cfg.width
        layers: list[nn.Module] = [nn.Conv2d(cfg.channels, ch, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for _ in range(cfg.stages - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch * 2),
                       nn.LeakyReLU(0.2, True)]
            ch *= 2
        layers += [nn.Conv2d(ch, 1, 4, 1, 0, bias=False)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()


def init_weights(module: nn.Module) -> None:
    """The paper's initialisation: N(0, 0.02) convolutions, N(1, 0.02) BatchNorm scales."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def build(cfg: GanConfig, seed: int = 0) -> tuple[Generator, Discriminator]:
    torch.manual_seed(seed)
    g, d = Generator(cfg), Discriminator(cfg)
    g.apply(init_weights)
    d.apply(init_weights)
    return g, d


def save_checkpoint(path: Path, cfg: GanConfig, g: nn.Module, d: nn.Module,
                    extra: dict[str, Any] | None = None) -> None:
    checkpoint.save(path, FORMAT, cfg, g, d, extra)


def load_pair(path: Path) -> tuple[GanConfig, Generator, Discriminator]:
    """The trained pair in eval mode (BatchNorm on running statistics: samples independent of batch)."""
    return pair_from_state(checkpoint.read(path))


def pair_from_state(state: dict[str, Any]) -> tuple[GanConfig, Generator, Discriminator]:
    """load_pair for a checkpoint already read (saliency.reconstruction.checkpoint.read)."""
    return checkpoint.pair(state, GanConfig, Generator, Discriminator)  # type: ignore[return-value]
