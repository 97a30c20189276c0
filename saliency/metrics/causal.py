"""Deletion and insertion (Petsiuk et al. 2018, RISE): does the map order pixels by importance?

Pixels are sorted by saliency, most salient first, and moved `step` at a time from a start image
to a finish image; the explained class's probability is read after every move. Deletion goes from
the image to zeros in normalised space (the dataset mean colour), insertion from a Gaussian blur
(kernel 11, sigma 5) to the image. The score is the trapezoid area under the n + 1 probabilities,
normalised by n so it lies in [0, 1]: low is good for deletion, high for insertion.

Step size: RISE moves 224 pixels per step on 224 x 224 images, i.e. 1/224 of the image, n = 224
steps. We keep that fraction for every image size, step = ceil(H*W / 224), so the curve has about
224 points (exactly 224 at 224 px, n = ceil(H*W / step) in general; the last step may move fewer
pixels). Ties in the map are broken by pixel index (row-major, earlier first), a stable sort.
"""
from __future__ import annotations

import math
from typing import Literal, NamedTuple

import numpy as np
import torch

from saliency.catalog.metrics import default_step
from saliency.methods.base import Classifier, Progress
from saliency.methods.masks import gaussian_blur



class CurveResult(NamedTuple):
    auc: float
    curve: np.ndarray  # (n + 1,) probability of the explained class after 0, 1, ..., n steps
    queries: int  # model queries spent (n + 1)


def auc(scores: np.ndarray) -> float:
    """Trapezoid area under scores sampled at 0, 1/n, ..., 1."""
    n = len(scores) - 1
    return float((scores.sum() - scores[0] / 2 - scores[-1] / 2) / n)


def salient_rank(saliency: torch.Tensor) -> torch.Tensor:
    """(H, W) map -> (H*W,) position of each pixel in the order most salient first."""
    order = torch.sort(saliency.flatten(), descending=True, stable=True).indices
    rank = torch.empty_like(order)
    rank[order] = torch.arange(order.numel(), device=order.device)
    return rank


def causal_curve(model: Classifier, image: torch.Tensor, saliency: torch.Tensor, target: int,
                 mode: Literal["deletion", "insertion"], step: int | None = None, batch_size: int = 32,
                 progress: Progress | None = None) -> CurveResult:
    """Deletion or insertion curve and AUC for one normalised (1, C, H, W) image and its (H, W) map."""
    if image.dim() != 4 or image.shape[0] != 1:
        raise ValueError(f"expected one image (1, C, H, W), got {tuple(image.shape)}")
    _, c, h, w = image.shape
    if tuple(saliency.shape) != (h, w):
        raise ValueError(f"the map is {tuple(saliency.shape)}; the model's input is {(h, w)}")
    step = step or default_step(h, w)
    n = math.ceil(h * w / step)
    dev = image.device
    if mode == "deletion":
        start, finish = image, torch.zeros_like(image)
    elif mode == "insertion":
        start, finish = gaussian_blur(image), image
    else:
        raise ValueError(f"unknown mode {mode!r}")
    start, finish = start.reshape(1, c, h * w), finish.reshape(1, c, h * w)
    rank = salient_rank(saliency.to(dev).float())
    scores = []
    with torch.inference_mode():
        for first in range(0, n + 1, batch_size):
            moved = torch.arange(first, min(first + batch_size, n + 1), device=dev) * step
            swap = (rank[None, :] < moved[:, None])[:, None, :]  # (B, 1, H*W): already moved pixels
            batch = torch.where(swap, finish, start).reshape(-1, c, h, w)
            scores.append(model(batch)[:, target].float().cpu())
            if progress is not None:
                progress(min(first + batch_size, n + 1) / (n + 1))
    curve = torch.cat(scores).numpy().astype(np.float64)
    return CurveResult(auc(curve), curve, n + 1)


def deletion(model: Classifier, image: torch.Tensor, saliency: torch.Tensor, target: int,
             step: int | None = None, batch_size: int = 32, progress: Progress | None = None) -> CurveResult:
    return causal_curve(model, image, saliency, target, "deletion", step, batch_size, progress)


def insertion(model: Classifier, image: torch.Tensor, saliency: torch.Tensor, target: int,
              step: int | None = None, batch_size: int = 32, progress: Progress | None = None) -> CurveResult:
    return causal_curve(model, image, saliency, target, "insertion", step, batch_size, progress)
