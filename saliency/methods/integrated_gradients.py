"""Integrated Gradients (Sundararajan et al. 2017) via Captum.

Gradients of the network's raw output for the target (`model.module`: logits, or probabilities
when the model only returns those) integrated along the straight path from a baseline to the
image, summed over colour channels: a signed map whose total is about score(image) -
score(baseline). `queries` counts forward plus backward passes per image: 2 x steps.
"""
from __future__ import annotations

from typing import Literal

import torch
from captum.attr import IntegratedGradients
from pydantic import BaseModel, ConfigDict, Field

from saliency.methods.base import MethodOutput, Progress, register
from saliency.methods.counting import Counted
from saliency.methods.gradients import autograd_on, frozen, plain, require_gradients
from saliency.methods.masks import gaussian_blur
from saliency.models.spec import LoadedModel


class IntegratedGradientsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: int = Field(50, ge=1, le=10_000, description="points on the path (Captum n_steps)")
    baseline: Literal["mean", "blur"] = Field(
        "mean", description="path start: the dataset mean colour or a blurred copy of the image")
    rule: Literal["gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right",
                  "riemann_middle"] = Field("gausslegendre", description="quadrature (Captum method)")
    internal_batch_size: int = Field(16, ge=1, description="path points per forward/backward pass")
    absolute: bool = Field(False, description="sum |attribution| over channels instead of the signed sum")


@register("integrated_gradients", IntegratedGradientsParams, "gradients",
          "Sundararajan et al. 2017 (Captum): path-integrated gradients; signed")
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
