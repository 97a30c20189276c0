"""OISE: optimized image sampling for explanations (Thakur & Fischmeister, ICPR 2020).

A black-box method: only class probabilities of masked inputs are used. Each chain keeps a coarse
s x s mask; cells that are on stay on with probability p (the target's probability under the current
mask) and cells that are off turn on with probability 1 - p, so masks that keep the class tend to
persist and are accumulated more often. K chains advance side by side: one batched forward pass per
step, so N queries cost N / K steps. Spec and provenance: shared METHOD.md, part 1.
"""
from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from saliency.methods.base import Classifier, MethodOutput, Progress, register
from saliency.methods.masks import gaussian_blur, upsample_shifted


# Images per forward pass unless batch_size says otherwise: bounds activation memory while keeping
# a GPU busy. With 500 chains on EfficientNet-Lite0 at 224 px the method adds about 4.4 GiB to a
# CPU process's peak, masks and copies of the image included (docs/benchmarks.md, Throughput).
DEFAULT_CHUNK = 256


class OiseParams(BaseModel):
    """Defaults are the authors' except `chains`, `queries` and `weighting` (authors: 1 chain, 5000
    queries, unweighted); docs/benchmarks.md has the numbers they were chosen by."""

    model_config = ConfigDict(extra="forbid")

    queries: int = Field(4000, ge=1, le=1_000_000, description="model queries per image")
    chains: int = Field(500, ge=1, le=4096, description="independent chains run side by side")
    grid: int = Field(8, ge=2, le=64, description="mask cells per side (s)")
    p_init: float = Field(0.3, gt=0, lt=1, description="probability a cell starts on")
    lr: float = Field(0.02, ge=0, le=1, description="regulariser step on cells that changed")
    baseline: Literal["mean", "blur"] = Field(
        "mean", description="masked pixels become the dataset mean colour or a blurred copy")
    weighting: Literal["none", "score"] = Field(
        "score", description="none: S += next mask (authors' code); score: S += p * queried mask")
    tv_weight: float = Field(0.0, ge=0, le=1, description="blend of the diagram's TV update; 0 = code")
    postprocess: Literal["authors", "minmax", "none"] = Field(
        "authors", description="authors: S - mean_offset*mean(S), clamp at 0, / max")
    mean_offset: float = Field(0.96, ge=0, le=1)
    early_stop: bool = Field(False, description="stop when the normalised map stops changing")
    tol: float = Field(0.01, gt=0, le=1, description="early stop: max change of the normalised map")
    check_every: int = Field(10, ge=1, description="early stop: steps between checks")
    batch_size: int | None = Field(None, ge=1, description="forward-pass chunk; default all chains, "
                                                           f"at most {DEFAULT_CHUNK}")
    seed: int = Field(0, ge=0, description="random seed; equal seeds give equal maps")

    @classmethod
    def authors(cls, **overrides: object) -> "OiseParams":
        """The published variant: one chain of 5000 queries, unweighted accumulation."""
        return cls(**{"chains": 1, "queries": 5000, "weighting": "none", **overrides})


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


@register("oise", OiseParams, "black-box", "Thakur & Fischmeister 2020: Markov-chain mask sampling")
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
    chunk = params.batch_size or min(b * k, DEFAULT_CHUNK)

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
