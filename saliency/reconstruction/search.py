"""Latent search in-filling (Yeh et al. 2017, "Semantic image inpainting with deep generative models").

K latent vectors per image are optimised side by side, one batched generator pass per step:

    loss(z) = sum_pixels R * |G(z) - x|                 weighted context loss
            + prior_weight * log(1 - D(G(z)))            the discriminator's realism prior
            - outcome_weight * log P(target | x_rec(z))  optional, not in the paper (see below)
            + diversity_weight * spread(G(z))            optional, not in the paper (see below)

with B = 1 on known pixels, 0 in the hole, and R = B * boxfilter(1 - B): a known pixel weighs the
share of hole pixels in the window around it, so the pixels that border the hole count most and
those farther than half a window count nothing. The window is the authors' 70 px at 224 px scaled
to the generator's size (11 px at 32, 21 px at 64; odd so that it is centred).

z starts uniform in [-1, 1] (the generator's training prior) from the seed and is clipped back to
[-1, 1] after every step. Optimiser: Adam (lr 0.01) by default, or SGD with Nesterov momentum 0.9.

The outcome term goes beyond the paper: it adds the classifier's log-probability of the target on
the composite x_rec = B * x + (1 - B) * G(z), so the search prefers in-fills that keep the class.
It needs a differentiable classifier.

The generator may be an in-painter (inpainter.py, `conditional = True`): it is then called as
G(z, x, B), each latent drawing its image's hole from that image's context, and the prior term
asks its discriminator about the composite B * x + (1 - B) * G(z, x, B) with the mask, which is
what it was trained to judge. The context term is computed as for a DCGAN, but the in-painter
returns the composite (the context itself on known pixels), so it is zero for every z: with the
paper's objective the latents move by the prior alone, and by the outcome term when it is on.

The spread term also goes beyond the paper: K latents searched against the same context tend to
settle on the same in-fill, and K copies show a user nothing. With `diversity_weight` > 0 each
in-fill pays for being closer than `diversity_margin` (RMS) to another in-fill of the same image
(see spread_loss), so the K variations stay apart while the context loss keeps them fitting.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import torch
import torch.nn.functional as F
from torch import nn

# Authors' context window: 70 px at 224 px.
WINDOW_FRACTION = 70 / 224


@dataclass(frozen=True)
class SearchOptions:
    steps: int = 1000
    lr: float = 0.01
    optimizer: Literal["adam", "nesterov"] = "adam"
    prior_weight: float = 0.01
    outcome_weight: float = 0.0
    window: int | None = None  # None: WINDOW_FRACTION of the generator's size
    diversity_weight: float = 0.0
    diversity_margin: float = 0.04  # RMS in [0, 1] pixels; pairs farther apart than this are left alone


def default_window(size: int) -> int:
    return 2 * round(WINDOW_FRACTION * size / 2) + 1


def context_weights(known: torch.Tensor, window: int) -> torch.Tensor:
    """R = B * boxfilter(1 - B) for masks (N, 1, H, W) with 1 on known pixels.

    The box filter averages over the window's pixels inside the image (count_include_pad=False),
    Yeh et al.'s |N(i)|.
    """
    hole = 1.0 - known
    share = F.avg_pool2d(hole, window, stride=1, padding=window // 2, count_include_pad=False)
    return known * share


def spread_loss(fake: torch.Tensor, known: torch.Tensor, k: int, margin: float) -> torch.Tensor:
    """Per-sample hinge on closeness to its image's other K - 1 in-fills: (N*K,).

    Sample i pays sum_over_hole_values * mean_j relu(margin - rms_ij), with rms_ij their RMS
    difference inside the hole (pixels in [0, 1]); scaled by the hole's size so that it weighs like
    the context loss, a sum over pixels. Pairs already `margin` apart cost nothing, so the term
    separates near-identical in-fills without pushing them towards noise.
    """
    if k < 2:
        return torch.zeros(fake.shape[0], device=fake.device)
    n = fake.shape[0] // k
    hole = (1.0 - known).view(n, k, 1, *known.shape[-2:])[:, :1]
    values = (hole.flatten(2).sum(2) * fake.shape[1]).clamp_min(1)  # (n, 1): hole pixels x channels
    v = ((fake.view(n, k, *fake.shape[1:]) * 0.5) * hole).flatten(2)  # [-1, 1] -> units of [0, 1]
    rms = (torch.cdist(v, v).pow(2) / values[:, :, None] + 1e-12).sqrt()  # (n, k, k)
    gap = F.relu(margin - rms) * (1 - torch.eye(k, device=fake.device))
    return (gap.sum(2) / (k - 1) * values).flatten()


def context_loss(fake: torch.Tensor, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Per-sample weighted L1 between G(z) and the image on known pixels: (N,)."""
    return (weights * (fake - x).abs()).flatten(1).sum(1)


# Outcome: composite at the generator's size -> the classifier's log-probabilities, (N, classes).
OutcomeFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class SearchResult:
    z: torch.Tensor  # (N*K, nz), final latents
    fake: torch.Tensor  # (N*K, 3, S, S) in [-1, 1], G(z) for the final latents
    context: torch.Tensor  # (N*K,) context loss of the final latents


def latent_search(generator: nn.Module, discriminator: nn.Module | None, x: torch.Tensor,
                  known: torch.Tensor, k: int, opts: SearchOptions, seed: int = 0,
                  outcome: OutcomeFn | None = None, target: torch.Tensor | None = None,
                  blend: Callable[[torch.Tensor], torch.Tensor] | None = None,
                  progress: Callable[[float], None] | None = None) -> SearchResult:
    """In-fill N images at once, K latents each.

    x: (N, 3, S, S) in [-1, 1] at the generator's size (hidden pixels already neutralised);
    known: (N, 1, S, S), 1 on known pixels. Sample i*K + j of the result is image i's j-th latent.
    The generator and discriminator are used as they are (eval mode) and not updated. `blend`
    maps G(z) to the composite the outcome term scores (default B * x + (1 - B) * G(z)), so that
    it can score the very composite, seam included, that will be shown.
    """
    dev = x.device
    n, size = x.shape[0], x.shape[-1]
    nz = int(getattr(generator, "nz"))
    gen = torch.Generator().manual_seed(seed)
    z = (torch.rand(n * k, nz, generator=gen) * 2 - 1).to(dev).requires_grad_(True)
    xs = x.repeat_interleave(k, 0)
    ks = known.repeat_interleave(k, 0)
    weights = context_weights(ks, opts.window or default_window(size))
    targets = target.repeat_interleave(k, 0) if target is not None else None
    use_prior = discriminator is not None and opts.prior_weight > 0
    use_outcome = outcome is not None and opts.outcome_weight > 0
    use_spread = opts.diversity_weight > 0 and k > 1
    conditional = bool(getattr(generator, "conditional", False))

    def draw(latents: torch.Tensor) -> torch.Tensor:
        return generator(latents, xs, ks) if conditional else generator(latents)

    def realism(fake: torch.Tensor) -> torch.Tensor:
        return discriminator(ks * xs + (1 - ks) * fake, ks) if conditional else discriminator(fake)
    if opts.optimizer == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam([z], lr=opts.lr)
    else:
        opt = torch.optim.SGD([z], lr=opts.lr, momentum=0.9, nesterov=True)
    # Only z learns; the networks' own parameters need no gradients.
    frozen = [p for m in (generator, discriminator) if m is not None for p in m.parameters()]
    flags = [p.requires_grad for p in frozen]
    for p in frozen:
        p.requires_grad_(False)
    try:
        with torch.enable_grad():
            for step in range(opts.steps):
                fake = draw(z)
                loss = context_loss(fake, xs, weights)
                if use_prior:
                    # log(1 - sigmoid(l)) = -softplus(l): minimised as D(G(z)) -> 1.
                    loss = loss - opts.prior_weight * F.softplus(realism(fake))
                if use_outcome:
                    composite = blend(fake) if blend is not None else ks * xs + (1 - ks) * fake
                    logp = outcome(composite).gather(1, targets[:, None])[:, 0]
                    loss = loss - opts.outcome_weight * logp
                if use_spread:
                    loss = loss + opts.diversity_weight * spread_loss(fake, ks, k, opts.diversity_margin)
                opt.zero_grad()
                loss.sum().backward()
                opt.step()
                with torch.no_grad():
                    z.clamp_(-1, 1)
                if progress:
                    progress((step + 1) / opts.steps)
    finally:
        for p, flag in zip(frozen, flags):
            p.requires_grad_(flag)
    with torch.no_grad():
        fake = draw(z)
        return SearchResult(z.detach(), fake, context_loss(fake, xs, weights))
