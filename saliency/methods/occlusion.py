"""Occlusion (Zeiler & Fergus 2014) via Captum: slide a patch of baseline over the image.

Black-box: a pixel's value is the mean drop of the target's probability over the windows that
cover it, so the map is signed (negative where hiding a patch raised the probability). The last
window on each axis is cut at the border, so every pixel is covered. `queries` counts forward
passes per image: one for the clean image plus one per window position.
"""
from __future__ import annotations


import torch
from captum.attr import Occlusion

from saliency.catalog.options import OcclusionParams
from saliency.methods.base import Classifier, MethodOutput, Progress
from saliency.methods.counting import Counted
from saliency.methods.masks import gaussian_blur


def windows(size: int, window: int, stride: int) -> int:
    """Window positions along one axis, as Captum places them (the last one cut at the border)."""
    return -(-(size - window) // stride) + 1


@torch.inference_mode()
def occlusion(model: Classifier, inputs: torch.Tensor, target: torch.Tensor,
              params: OcclusionParams, progress: Progress | None = None) -> MethodOutput:
    b, c, h, w = inputs.shape
    win = min(params.window or max(1, round(min(h, w) / 7)), h, w)
    stride = params.stride or max(1, win // 2)
    base = torch.zeros_like(inputs) if params.baseline == "mean" else gaussian_blur(inputs)
    counted = Counted(model, b, 1 + windows(h, win, stride) * windows(w, win, stride), progress)
    attr = Occlusion(counted).attribute(
        inputs, sliding_window_shapes=(c, win, win), strides=(c, stride, stride), baselines=base,
        target=target.to(inputs.device), perturbations_per_eval=max(1, params.batch_size // b))
    # The window spans every channel, so the channels carry the same value.
    return MethodOutput(maps=attr.mean(1).float(), queries=counted.passes)
