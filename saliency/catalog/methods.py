"""The method registry: each method's name, options model, what it needs and where its function
lives. The function is named by import path and imported only where the method runs (a worker),
so the API validates requests against this registry without importing torch.

Builtin methods are declared below; more come from plugins: modules named in
$SALIENCY_PLUGINS (comma-separated), imported on use of the registry, which call
`declare` themselves. A name declared twice is an error.
"""
from __future__ import annotations

import importlib
import os
import threading
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from saliency.catalog import options as o
from saliency.errors import DuplicateName, InvalidParams, UnknownMethod

Needs = Literal["black-box", "gradients"]
PLUGINS_ENV = "SALIENCY_PLUGINS"


@dataclass(frozen=True)
class MethodInfo:
    name: str
    options: type[BaseModel]
    needs: Needs
    description: str
    function: str  # "module:attribute" of a saliency.methods.base.MethodFn

    def parse_params(self, raw: dict[str, Any] | None) -> BaseModel:
        """Validate user options; the error names the offending field (params.queries)."""
        if raw is not None and not isinstance(raw, dict):
            raise InvalidParams("params", "must be a JSON object")
        try:
            return self.options.model_validate(raw or {})
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"])  # empty: a rule across options
            raise InvalidParams(f"params.{field}" if field else "params", err["msg"]) from None

    def schema(self) -> dict[str, Any]:
        """The options as JSON Schema (GET /methods)."""
        return self.options.model_json_schema()


METHODS: dict[str, MethodInfo] = {}
_plugins_seen: str | None = None  # the $SALIENCY_PLUGINS value last loaded
_lock = threading.RLock()  # a plugin may read the registry while it is imported


def declare(info: MethodInfo) -> MethodInfo:
    if info.name in METHODS:
        raise DuplicateName(f"method {info.name!r} is declared twice ({METHODS[info.name].function} "
                            f"and {info.function})")
    METHODS[info.name] = info
    return info


def load_plugins() -> None:
    """Import the modules named in $SALIENCY_PLUGINS; they declare their methods. A module is
    imported once; a name added to the variable later (a test, an app created after the change)
    is imported at the next call, rather than never."""
    global _plugins_seen
    value = os.environ.get(PLUGINS_ENV, "")
    if value == _plugins_seen:
        return
    with _lock:
        _plugins_seen = value
        for name in filter(None, (n.strip() for n in value.split(","))):
            importlib.import_module(name)


def registry() -> dict[str, MethodInfo]:
    load_plugins()
    return METHODS


def method_info(name: str) -> MethodInfo:
    methods = registry()
    try:
        return methods[name]
    except KeyError:
        raise UnknownMethod(f"unknown method {name!r}; known: {', '.join(sorted(methods))}") from None


def methods_for(gradients: bool) -> list[str]:
    """Names of the methods a model can run: black-box ones always, gradient ones when it allows."""
    return sorted(n for n, m in registry().items() if m.needs == "black-box" or gradients)


def import_function(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


for _info in (
    MethodInfo("oise", o.OiseParams, "black-box", "Thakur & Fischmeister 2020: Markov chains of coarse masks; the default (README, OISE)",
               "saliency.methods.oise:oise"),
    MethodInfo("rise", o.RiseParams, "black-box", "Petsiuk et al. 2018: random coarse masks, averaged weighted by the target's probability",
               "saliency.methods.rise:rise"),
    MethodInfo("occlusion", o.OcclusionParams, "black-box",
               "Captum `Occlusion`: drop of the target's probability when a sliding patch is hidden; signed",
               "saliency.methods.occlusion:occlusion"),
    MethodInfo("integrated_gradients", o.IntegratedGradientsParams, "gradients",
               ("Captum `IntegratedGradients`: gradients of the target's score along the path from a baseline, "
                "summed over colour channels; signed"),
               "saliency.methods.integrated_gradients:integrated_gradients"),
    MethodInfo("gradcam", o.GradCamParams, "gradients",
               ("Captum `LayerGradCam`: a layer's activations weighted by their mean gradients, ReLU'd, upsampled "
                "bilinearly; non-negative"),
               "saliency.methods.gradcam:gradcam"),
    MethodInfo("extremal_perturbation", o.ExtremalParams, "gradients",
               ("Fong, Patrick & Vedaldi 2019: the smooth mask of a fixed area whose unblurred pixels keep the "
                "target's score highest (Adam, blurred baseline); in [0, 1]"),
               "saliency.methods.extremal:extremal_perturbation"),
):
    declare(_info)
