"""Integrated Gradients (Sundararajan et al. 2017) via Captum.

Gradients of the network's raw output for the target (`model.module`: logits, or probabilities
when the model only returns those) integrated along the straight path from a baseline to the
image, summed over colour channels: a signed map whose total is about score(image) -
score(baseline). `queries` counts forward plus backward passes per image: 2 x steps.
"""
from __future__ import annotations


import torch
from captum.attr import IntegratedGradients

from saliency.catalog.options import IntegratedGradientsParams
from saliency.methods.base import MethodOutput, Progress
from saliency.methods.counting import Counted
from saliency.methods.gradients import autograd_on, frozen, plain, require_gradients
from saliency.methods.masks import gaussian_blur
from saliency.models.spec import LoadedModel


def integrated_gradients(model: LoadedModel, inputs: torch.Tensor, target: torch.Tensor,
                         params: IntegratedGradientsParams,
                         progress: Progress | None = None) -> MethodOutput:
    require_gradients(model, "integrated_gradients")
    b = inputs.shape[0]
    with autograd_on(), frozen(model.module):
        x = plain(inputs)
        base = torch.zeros_like(x) if params.baseline == "mean" else gaussian_blur(x)
        counted = Counted(model.module, b, params.steps, progress)
        attr = IntegratedGradients(counted).attribute(
            x, baselines=base, target=plain(target).to(x.device), n_steps=params.steps, method=params.rule,
            internal_batch_size=params.internal_batch_size * b)
        attr = attr.detach()
    maps = attr.abs().sum(1) if params.absolute else attr.sum(1)
    return MethodOutput(maps=maps.float(), queries=2 * counted.passes)
