"""Grad-CAM (Selvaraju et al. 2017) via Captum's LayerGradCam.

The layer's activations weighted by the spatial mean of their gradients for the target's raw
output (`model.module`: logits, or probabilities when the model only returns those), summed over
channels, ReLU'd, then upsampled bilinearly to the input size: non-negative. Default layer: the
last 2-D convolution of the network (for a torch.export archive: see saliency/methods/layers.py).
`queries` counts forward plus backward passes per image: 2.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from captum.attr import LayerGradCam

from saliency.errors import InvalidParams
from saliency.catalog.options import GradCamParams
from saliency.methods.base import MethodOutput, Progress
from saliency.methods.counting import Counted
from saliency.methods.gradients import autograd_on, frozen, plain, require_gradients
from saliency.methods.layers import hooked_layer
from saliency.models.spec import LoadedModel


def gradcam(model: LoadedModel, inputs: torch.Tensor, target: torch.Tensor,
            params: GradCamParams, progress: Progress | None = None) -> MethodOutput:
    require_gradients(model, "gradcam")
    b, _, h, w = inputs.shape
    net, layer, name = hooked_layer(model.module, params.layer)
    with autograd_on(), frozen(model.module):
        # With frozen weights only the input can carry the graph to the hooked layer.
        x = plain(inputs).requires_grad_(True)
        counted = Counted(net, b, 1, progress)
        try:
            cam = LayerGradCam(counted, layer).attribute(x, target=plain(target).to(x.device),
                                                         relu_attributions=True)
        except AssertionError as exc:
            if "did not obtain any outputs" not in str(exc):
                raise
            raise InvalidParams("params.layer", f"layer {name!r} never ran in the forward pass, so "
                                "its output cannot be hooked") from None
        if isinstance(cam, tuple):  # a layer with several outputs: take the first
            cam = cam[0]
        cam = cam.detach().float()
    if cam.dim() != 4:
        raise InvalidParams("params.layer", f"layer {name!r} gives {tuple(cam.shape)}, not a spatial "
                            "(N, C, H, W) map; name a convolutional layer")
    maps = F.interpolate(cam, size=(h, w), mode="bilinear", align_corners=False)[:, 0].clamp_min(0)
    return MethodOutput(maps=maps, queries=2 * counted.passes)
