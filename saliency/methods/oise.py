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

from saliency.catalog.options import OISE_DEFAULT_CHUNK, OiseParams
from saliency.methods.base import Classifier, MethodOutput, Progress
from saliency.methods.masks import gaussian_blur, upsample_shifted


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


@torch.inference_mode()
def oise(model: Classifier, inputs: torch.Tensor, target: torch.Tensor,
         params: OiseParams, progress: Progress | None = None) -> MethodOutput:
    """Saliency maps (B, H, W) for a batch of normalised images and one target class each."""
    b, _, h, w = inputs.shape
    # never more chains than queries: a small budget must not be rounded up to a whole batch
    k, s, dev = min(params.chains, params.queries), params.grid, inputs.device
    gen = torch.Generator(device=dev).manual_seed(params.seed)
    steps = math.ceil(params.queries / k)
    base = torch.zeros_like(inputs) if params.baseline == "mean" else gaussian_blur(inputs)
    base = base.repeat_interleave(k, 0)
    delta = inputs.repeat_interleave(k, 0) - base
    rows = torch.arange(b * k, device=dev)
    tgt = target.to(dev).repeat_interleave(k)
    chunk = params.batch_size or min(b * k, OISE_DEFAULT_CHUNK)

    def query(masks: torch.Tensor, step: int) -> torch.Tensor:
        out = []
        for i in range(0, b * k, chunk):
            out.append(model(base[i:i + chunk] + delta[i:i + chunk] * masks[i:i + chunk, None]))
            if progress is not None:  # per chunk: with many chains a step is a long wait
                progress((step + min(i + chunk, b * k) / (b * k)) / steps)
        return torch.cat(out)[rows, tgt].float()

    mask = (torch.rand(b * k, s, s, device=dev, generator=gen) > 1 - params.p_init).float()
    up = upsample_shifted(mask, (h, w), gen)
    acc = torch.zeros(b * k, h, w, device=dev)
    p_prev = torch.zeros(b * k, device=dev)
    last_map, done = None, 0
    for step in range(steps):
        p = query(up, step)
        if params.weighting == "score":
            acc += p.view(-1, 1, 1) * up
        dp = p - p_prev
        new = resample(mask, p, torch.rand(mask.shape, device=dev, generator=gen))
        new = regularise(new, mask, dp, params.lr)
        if params.tv_weight > 0:
            new = total_variation_update(new, mask, dp, params.tv_weight)
        mask, p_prev = new, p
        up = upsample_shifted(mask, (h, w), gen)
        if params.weighting == "none":
            acc += up  # the authors accumulate the revised (next) mask, not the queried one
        done = step + 1
        if params.early_stop and done % params.check_every == 0:
            cur = postprocess(acc.view(b, k, h, w).sum(1), params.postprocess, params.mean_offset)
            if last_map is not None and (cur - last_map).abs().max() < params.tol:
                break
            last_map = cur
    maps = postprocess(acc.view(b, k, h, w).sum(1), params.postprocess, params.mean_offset)
    return MethodOutput(maps=maps.float(), queries=done * k)
