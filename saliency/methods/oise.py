"""OISE: optimized image sampling for explanations (Thakur & Fischmeister, ICPR 2020).

A black-box method: only class probabilities of masked inputs are used. Each chain keeps a coarse
s x s mask; cells that are on stay on with probability p (the target's probability under the current
mask) and cells that are off turn on with probability 1 - p, so masks that keep the class tend to
persist and are accumulated more often. K chains advance side by side: one batched forward pass per
step, so N queries cost N / K steps. Spec and provenance: shared METHOD.md, part 1.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from saliency.catalog.options import OiseParams, oise_chunk
from saliency.methods.base import Classifier, MethodOutput, Progress, preferred_chunk
from saliency.methods.masks import draw_shifts, gaussian_blur, upsample_at
from saliency.methods.uncertainty import one_hot, reached, stability, standard_error


def resample(mask: torch.Tensor, p: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Revise the on and off sets: on stays on if u > 1 - p, off turns on if u > p (authors' code)."""
    pk = p.view(-1, 1, 1)
    return torch.where(mask > 0, u > 1 - pk, u > pk).to(mask.dtype)


def regularise(new: torch.Tensor, prev: torch.Tensor, dp: torch.Tensor, lr: float) -> torch.Tensor:
    """Scale cells that changed: by 1 + lr*|dp| where they fell, 1 - lr*|dp| where they rose.

    The authors' four sign cases (sign of dp x sign of change) reduce to this. `prev` keeps its
    fractional values, so a cell that stayed on can still count as changed, as in their code.
    """
    change = new - prev
    step = lr * dp.abs().view(-1, 1, 1)
    one = torch.ones_like(new)
    return new * torch.where(change < 0, one + step, torch.where(change > 0, one - step, one))


def total_variation_update(new: torch.Tensor, prev: torch.Tensor, dp: torch.Tensor, weight: float) -> torch.Tensor:
    """The paper diagram's M_i <- M_i * dp + V * M_(i-1), V = TV(M_(i-1)), blended by `weight`.

    The diagram gives no normalisation; V is the mean absolute difference between neighbouring
    cells of each chain's previous mask. weight = 1 is the diagram read literally.
    """
    tv = (prev.diff(dim=-1).abs().mean(dim=(-2, -1)) + prev.diff(dim=-2).abs().mean(dim=(-2, -1))) / 2
    literal = new * dp.view(-1, 1, 1) + tv.view(-1, 1, 1) * prev
    return (1 - weight) * new + weight * literal


def refine(mask: torch.Tensor, grid: int) -> torch.Tensor:
    """(N, s, s) chain states -> (N, grid, grid): each new cell takes the state of the old cell
    under its centre, so a chain keeps what it learnt and goes on at the finer grid."""
    return F.interpolate(mask[:, None], size=(grid, grid), mode="nearest")[:, 0]


def postprocess(s: torch.Tensor, mode: str, offset: float) -> torch.Tensor:
    """(B, H, W) accumulated masks -> maps. `authors`: S - offset*mean(S), clamp at 0, / max."""
    if mode == "none":
        return s
    flat = s.flatten(1)
    if mode == "authors":
        flat = (flat - offset * flat.mean(dim=1, keepdim=True)).clamp_min(0)
    else:  # minmax
        flat = flat - flat.min(dim=1, keepdim=True).values
    peak = flat.max(dim=1, keepdim=True).values
    return (flat / torch.where(peak > 0, peak, torch.ones_like(peak))).view_as(s)


def postprocess_scale(s: torch.Tensor, mode: str, offset: float) -> torch.Tensor:
    """(B,) the divisor `postprocess` applies to each sum: the map's units are sum / scale."""
    flat = s.flatten(1)
    if mode == "none":
        return torch.ones(s.shape[0], device=s.device)
    if mode == "authors":
        flat = (flat - offset * flat.mean(dim=1, keepdim=True)).clamp_min(0)
    else:
        flat = flat - flat.min(dim=1, keepdim=True).values
    peak = flat.max(dim=1).values
    return torch.where(peak > 0, peak, torch.ones_like(peak))


# OISE with fewer chains than groups (the authors' single chain) groups its queries by blocks of
# this many steps instead of by chain: batch means, which need blocks longer than the chain's memory.
BLOCK_STEPS = 16


class _Sum:
    """Per-image, per-group sums of masks, S (B, G, H, W), fed one forward chunk of chains at a time.

    Chains are laid out image-major (rows i*k .. (i+1)*k - 1 belong to image i), so a chunk of
    rows splits into at most a few runs of one image each; nothing of size chains x H x W is kept.
    Chain c of an image belongs to group c mod G (saliency.methods.uncertainty); the map is the sum
    over groups, so the groups never change it.
    """

    def __init__(self, b: int, k: int, g: int, size: tuple[int, int], device: torch.device) -> None:
        self.k, self.g, self.size = k, g, size
        self.total = torch.zeros(b, g, *size, device=device)
        self.counts = torch.zeros(g, device=device)  # queries per group, per image
        self.groups = torch.arange(k, device=device) % g

    def set_step(self, step: int) -> None:
        """Group of each chain at this step: its own (c mod G), or by block of steps with few chains."""
        chain = torch.arange(self.k, device=self.total.device)
        self.groups = chain % self.g if self.k >= self.g else (chain + self.k * (step // BLOCK_STEPS)) % self.g

    def pieces(self, lo: int, hi: int) -> list[tuple[int, slice]]:
        """(image, its rows within the chunk [lo, hi), counted from lo)."""
        return [(i, slice(max(lo, i * self.k) - lo, min(hi, (i + 1) * self.k) - lo))
                for i in range(lo // self.k, (hi - 1) // self.k + 1)]

    def add(self, lo: int, hi: int, masks: torch.Tensor, weights: torch.Tensor | None = None) -> None:
        """S[image, group] += sum over its rows in that group of weight x mask (weight 1 when None)."""
        for i, rows in self.pieces(lo, hi):
            part = masks[rows].flatten(1)
            chains = torch.arange(rows.start + lo, rows.stop + lo, device=part.device) - i * self.k
            w = None if weights is None else weights[rows]
            self.total[i] += (one_hot(self.groups[chains], self.g, w) @ part).view(self.g, *self.size)

    def count_step(self) -> None:
        self.counts += one_hot(self.groups, self.g).sum(1)

    def summed(self) -> torch.Tensor:
        return self.total.sum(1)


@torch.inference_mode()
def oise(model: Classifier, inputs: torch.Tensor, target: torch.Tensor,
         params: OiseParams, progress: Progress | None = None) -> MethodOutput:
    """Saliency maps (B, H, W) for a batch of normalised images and one target class each, with
    their stability and per-pixel standard error (saliency.methods.uncertainty).

    A fixed budget (`target_stability` None) runs ceil(queries / chains) steps. The adaptive rule
    checks the stability every round of ceil(round_queries / chains) steps and stops once every
    image of the batch reaches `target_stability`, or when the cap `max_queries` is spent.

    Only the chains' coarse grids (chains x s x s) live across steps; image-sized masks exist one
    forward chunk at a time. The random numbers are drawn for all chains at once, in the order of
    the per-chain implementation before it (dc2e42f), so the chunk size never changes a map, and
    an adaptive run that stops at q queries draws the map a fixed budget of q would (without
    `refine_grid`, whose switch is placed by the cap).

    With `refine_grid` the chains run coarse to fine: one grid of 8 cells per side cannot draw a
    mask narrower than a cell (28 px at 224), so a thin object is never kept alone; the finer
    grid late in the run draws such masks where the coarse steps already found the object.
    """
    b, _, h, w = inputs.shape
    budget = params.budget
    # never more chains than queries: a small budget must not be rounded up to a whole batch
    k, s, dev = min(params.chains, budget), params.grid, inputs.device
    n, size = b * k, (h, w)
    gen = torch.Generator(device=dev).manual_seed(params.seed)
    steps = math.ceil(budget / k)
    round_steps = max(1, math.ceil(params.round_queries / k))
    refine_at = max(1, round(params.refine_share * steps)) if params.refine_grid else -1
    base = torch.zeros_like(inputs) if params.baseline == "mean" else gaussian_blur(inputs)
    delta = inputs - base
    tgt = target.to(dev).repeat_interleave(k)
    chunk = params.batch_size or preferred_chunk(model, oise_chunk(dev.type))
    acc = _Sum(b, k, params.groups, size, dev)

    def query(mask: torch.Tensor, shifts: torch.Tensor, step: int) -> torch.Tensor:
        p = torch.empty(n, device=dev)
        for lo in range(0, n, chunk):
            hi = min(lo + chunk, n)
            up = upsample_at(mask[lo:hi], size, shifts[lo:hi])
            x = torch.empty(hi - lo, *inputs.shape[1:], device=dev, dtype=inputs.dtype)
            for i, rows in acc.pieces(lo, hi):  # base + delta * mask, without copying the image per row
                torch.addcmul(base[i], delta[i], up[rows, None], out=x[rows])
            p[lo:hi] = model(x)[torch.arange(hi - lo, device=dev), tgt[lo:hi]].float()
            if params.weighting == "score":
                acc.add(lo, hi, up, p[lo:hi])
            if progress is not None:  # per chunk: with many chains a step is a long wait
                progress((step + hi / n) / steps)
        return p

    def accumulate_unweighted(mask: torch.Tensor, shifts: torch.Tensor) -> None:
        for lo in range(0, n, chunk):
            hi = min(lo + chunk, n)
            acc.add(lo, hi, upsample_at(mask[lo:hi], size, shifts[lo:hi]))

    def normalise(total: torch.Tensor) -> torch.Tensor:
        return postprocess(total.clone(), params.postprocess, params.mean_offset)

    mask = (torch.rand(n, s, s, device=dev, generator=gen) > 1 - params.p_init).float()
    shifts = draw_shifts(n, s, size, gen, dev)
    p_prev = torch.zeros(n, device=dev)
    done, stab, stopped = 0, None, "budget"
    for step in range(steps):
        acc.set_step(step)
        p = query(mask, shifts, step)
        dp = p - p_prev
        new = resample(mask, p, torch.rand(mask.shape, device=dev, generator=gen))
        new = regularise(new, mask, dp, params.lr)
        if params.tv_weight > 0:
            new = total_variation_update(new, mask, dp, params.tv_weight)
        mask, p_prev = new, p
        if step + 1 == refine_at:
            mask, s = refine(mask, params.refine_grid), params.refine_grid  # type: ignore[assignment]
        shifts = draw_shifts(n, s, size, gen, dev)
        if params.weighting == "none":
            accumulate_unweighted(mask, shifts)  # the authors accumulate the revised (next) mask
        acc.count_step()
        done = step + 1
        if params.adaptive and done % round_steps == 0 and done < steps:
            stab = reached(acc.total, acc.counts, normalise, params.target_stability, progress)
            if stab is not None:
                stopped = "target"
                break
    else:
        stopped = "cap" if params.adaptive else "budget"
    total = acc.summed()
    if stab is None:
        stab = stability(acc.total, acc.counts, normalise)
    scale = postprocess_scale(total, params.postprocess, params.mean_offset)
    return MethodOutput(maps=normalise(total).float(), queries=done * k, stability=stab.float(),
                        uncertainty=(standard_error(acc.total, acc.counts) / scale.view(-1, 1, 1)).float(),
                        stopped=stopped)
