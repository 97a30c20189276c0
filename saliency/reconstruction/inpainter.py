"""A generator built to in-fill: G(z, context, mask) -> image, its discriminator and its file format.

Why this design. The latent search (Yeh et al. 2017) can only find what its generator draws, and an
unconditional DCGAN trained for minutes on a CPU draws blobs where thin crosses and rings should be
(docs/benchmarks.md, "Where the in-fills fail"). Drawing a whole plausible image from z alone is a
far harder task than drawing the missing part of one given the rest, so the generator here is
conditioned on the visible context, as in the in-painting literature:

- Context encoders (Pathak et al. 2016): an encoder-decoder that sees the image with its hole and
  is trained with a reconstruction loss on the hole plus an adversarial loss. Taken: the
  encoder-decoder, the hole reconstruction term, and a discriminator that judges the composite
  (here it is also told where the hole was, so it looks there). Alone it is deterministic: one
  in-fill per context, nothing for a search to choose between and K variations all alike.
- Pluralistic in-painting (Zheng et al. 2019): many in-fills per context through a conditional
  VAE with two paths and attention. Not taken: its latent follows a learned Gaussian prior, not the
  uniform box the paper's search clips z to, and the two paths double the cost a CPU must pay.
- Mode seeking (Mao et al. 2019): add to a conditional GAN the term 1 / (|G(c, z1) - G(c, z2)| /
  |z1 - z2|), which makes different z give different outputs. Taken, measured inside the hole: it
  is one extra generator pass per batch and keeps z ~ U(-1, 1), so the paper's latent search runs
  over this z unchanged (context term on the known pixels around the hole, prior term from the
  discriminator, optional outcome term).

The network: a U-Net (stride-2 convolutions down to 4x4, nearest upsampling + convolutions back,
skip connections so that the context reaches the output at full resolution) with z broadcast and
concatenated at every decoder stage, so that the decoder cannot route around it. It returns the
composite: the context on known pixels, its drawing in the hole. The paper's context term is then
zero for every z (the in-painter agrees with the context by construction) and the search moves z
by the prior, and the outcome term when asked. A first version drew the known pixels too, trained
to copy them: the context term then pulled all K latents the same way, into one corner of the
latent box, and the K variations came out alike (diversity 0.017, under near-copies' 0.028).
No BatchNorm: an image's in-fill does not depend on the others in its batch, in training or in
the search. The input is multiplied by the mask inside the module, so hidden pixels are never read.

Checkpoint: a plain dict of tensors and numbers, format "saliency-inpainter/1", written by
`torch.save` and read with `torch.load(weights_only=True)`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from saliency.reconstruction import checkpoint
from saliency.reconstruction.dcgan import SizedConfig

FORMAT = "saliency-inpainter/1"


@dataclass(frozen=True)
class InpainterConfig(SizedConfig):
    nz: int = 16  # latent size
    width: int = 16  # channels of the stage next to the image (generator and discriminator)

    def widths(self) -> list[int]:
        """Channels at each scale from the image down to 4x4, doubling and capped at 4 x width."""
        return [self.width * min(2 ** i, 4) for i in range(self.stages + 1)]


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, (k - 1) // 2 if stride == 1 else 1),
                         nn.LeakyReLU(0.2, True))


class Inpainter(nn.Module):
    """forward(z (N, nz) in [-1, 1], x (N, 3, S, S) in [-1, 1], known (N, 1, S, S) with 1 on known
    pixels) -> the composite (N, 3, S, S) in [-1, 1]: x on known pixels, the in-fill in the hole.
    `conditional` tells the latent search how to call it."""

    conditional = True

    def __init__(self, cfg: InpainterConfig) -> None:
        super().__init__()
        self.nz = cfg.nz
        w = cfg.widths()
        self.stem = _conv(cfg.channels + 1, w[0])
        self.down = nn.ModuleList(_conv(w[i], w[i + 1], 4, 2) for i in range(cfg.stages))
        self.middle = nn.Sequential(_conv(w[-1] + cfg.nz, w[-1]), _conv(w[-1], w[-1]))
        # Up stage i: 2x upsample of scale i+1 features, concat skip of scale i and z.
        self.up = nn.ModuleList(
            nn.Sequential(_conv(w[i + 1] + w[i] + cfg.nz, w[i]), _conv(w[i], w[i]))
            for i in reversed(range(cfg.stages)))
        self.out = nn.Conv2d(w[0], cfg.channels, 3, 1, 1)

    def forward(self, z: torch.Tensor, x: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        h = self.stem(torch.cat([x * known, known], 1))
        skips = [h]
        for layer in self.down:
            h = layer(h)
            skips.append(h)
        h = self.middle(torch.cat([h, _broadcast(z, h)], 1))
        for layer, skip in zip(self.up, reversed(skips[:-1])):
            h = nn.functional.interpolate(h, scale_factor=2, mode="nearest")
            h = layer(torch.cat([h, skip, _broadcast(z, h)], 1))
        return known * x + (1 - known) * torch.tanh(self.out(h))


def _broadcast(z: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return z[:, :, None, None].expand(-1, -1, *like.shape[-2:])


class InpaintDiscriminator(nn.Module):
    """(composite (N, 3, S, S) in [-1, 1], known (N, 1, S, S)) -> logits (N,): is the composite a
    real image? Spectral norm on every layer (Miyato et al. 2018) keeps it from overpowering the
    generator in the few thousand steps a CPU affords."""

    def __init__(self, cfg: InpainterConfig) -> None:
        super().__init__()
        w = cfg.widths()
        layers: list[nn.Module] = [spectral_norm(nn.Conv2d(cfg.channels + 1, w[0], 3, 1, 1)), nn.LeakyReLU(0.2, True)]
        for i in range(cfg.stages):
            layers += [spectral_norm(nn.Conv2d(w[i], w[i + 1], 4, 2, 1)), nn.LeakyReLU(0.2, True)]
        layers += [spectral_norm(nn.Conv2d(w[-1], 1, 4, 1, 0))]
        self.net = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([image, known], 1)).flatten()


def build_inpainter(cfg: InpainterConfig, seed: int = 0) -> tuple[Inpainter, InpaintDiscriminator]:
    torch.manual_seed(seed)
    return Inpainter(cfg), InpaintDiscriminator(cfg)


def save_inpainter(path: Path, cfg: InpainterConfig, g: nn.Module, d: nn.Module,
                   extra: dict[str, Any] | None = None) -> None:
    checkpoint.save(path, FORMAT, cfg, g, d, extra)


def load_inpainter(state: dict[str, Any]) -> tuple[InpainterConfig, Inpainter, InpaintDiscriminator]:
    """The trained pair from a checkpoint already read (saliency.reconstruction.checkpoint.read)."""
    return checkpoint.pair(state, InpainterConfig, Inpainter, InpaintDiscriminator)  # type: ignore[return-value]
