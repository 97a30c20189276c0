"""Find the layer Grad-CAM hooks, in an eager network or in a torch.export graph.

Captum reads a layer's output through a forward hook, which fires only when the layer runs as a
module call. An eager network calls its layers; a torch.export archive does not: its graph calls
`aten.conv2d` on the layer's weight directly. For such a graph we insert an identity module right
after the named convolution, in a copy of the graph that shares the original parameters, and hook
that. TorchScript runs its layers inside compiled code, where no Python hook fires.
"""
from __future__ import annotations

import copy

import torch
from torch import fx, nn

from saliency.errors import InvalidParams

PROBE = "saliency_gradcam_probe"
_CONV_OPS = (torch.ops.aten.conv2d.default, torch.ops.aten.convolution.default)
_SHOWN = 20  # layer names an error lists (EfficientNet has about 50 convolutions)


def hooked_layer(module: nn.Module, name: str | None) -> tuple[nn.Module, nn.Module, str]:
    """(network to run, layer to hook, its name); `name=None` picks the last 2-D convolution."""
    if isinstance(module, torch.jit.ScriptModule):
        raise InvalidParams("params.layer", "Grad-CAM reads a layer's output through a forward hook, "
                            "and a TorchScript model runs its layers inside compiled code where hooks "
                            "do not fire; export the model with torch.export (.pt2) or use a "
                            "black-box method")
    if isinstance(module, fx.GraphModule):
        return _graph_layer(module, name)
    convs = [n for n, m in module.named_modules() if isinstance(m, nn.Conv2d)]
    if name is None:
        if not convs:
            raise InvalidParams("params.layer", "the network has no Conv2d layer; name a layer")
        name = convs[-1]
    layers = dict(module.named_modules())
    if name not in layers or name == "":
        raise InvalidParams("params.layer", f"no layer {name!r} in the network; {_listing(convs)} "
                            "(any submodule name is accepted)")
    return module, layers[name], name


def _graph_layer(gm: fx.GraphModule, name: str | None) -> tuple[nn.Module, nn.Module, str]:
    called = {str(n.target) for n in gm.graph.nodes if n.op == "call_module"}
    convs: dict[str, fx.Node] = {}  # layer name -> its last convolution node, in graph order
    for node in gm.graph.nodes:
        owner = _conv_owner(gm, node)
        if owner is not None:
            convs.pop(owner, None)
            convs[owner] = node
    if name is None:
        if not convs:
            raise InvalidParams("params.layer", "the exported graph has no 2-D convolution to hook")
        name = list(convs)[-1]
    if name in called:
        return gm, gm.get_submodule(name), name
    if name not in convs:
        reason = ("exists, but the exported graph never calls it as a module (torch.export inlines "
                  "layers into operators), so no hook can attach to it"
                  if _has_submodule(gm, name) else "is not in the network")
        raise InvalidParams("params.layer", f"layer {name!r} {reason}; {_listing(list(convs))}")
    probed = _probed(gm, convs[name])
    return probed, probed.get_submodule(PROBE), name


def _conv_owner(gm: fx.GraphModule, node: fx.Node) -> str | None:
    """The layer a convolution node belongs to, e.g. 'features.5'; None for other nodes."""
    if node.op == "call_module":
        return str(node.target) if isinstance(gm.get_submodule(str(node.target)), nn.Conv2d) else None
    if node.op != "call_function" or node.target not in _CONV_OPS or len(node.args) < 2:
        return None
    weight = node.args[1]
    if not isinstance(weight, fx.Node) or weight.op != "get_attr":
        return None
    return str(weight.target).rpartition(".")[0] or None


def _has_submodule(gm: fx.GraphModule, name: str) -> bool:
    try:
        gm.get_submodule(name)
        return bool(name)
    except AttributeError:
        return False


def _probed(gm: fx.GraphModule, node: fx.Node) -> fx.GraphModule:
    """A copy of the graph with an identity module after `node`; parameters stay shared."""
    graph = copy.deepcopy(gm.graph)
    target = next(n for n in graph.nodes if n.name == node.name)
    probed = fx.GraphModule(gm, graph)
    probed.add_submodule(PROBE, nn.Identity())
    with graph.inserting_after(target):
        probe = graph.call_module(PROBE, (target,))
    target.replace_all_uses_with(probe, delete_user_cb=lambda user: user is not probe)
    probed.recompile()
    return probed


def _listing(convs: list[str]) -> str:
    if not convs:
        return "it has no 2-D convolutions"
    shown = convs[-_SHOWN:]
    more = f" (and {len(convs) - len(shown)} earlier ones)" if len(convs) > len(shown) else ""
    return "its 2-D convolutions: " + ", ".join(shown) + more
