"""What every saliency method is: a function of (model, inputs, target, params) returning maps.

Methods register here by name with a pydantic model of their options, so the CLI and the service
look them up and validate user options without importing any method directly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal, Protocol

import torch
from pydantic import BaseModel, ValidationError

from saliency.errors import InvalidParams, UnknownMethod

Progress = Callable[[float], None]
# A classifier as methods see it: normalised images (N, C, H, W) -> class probabilities (N, classes).
Classifier = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class MethodOutput:
    maps: torch.Tensor  # (B, H, W) float32 at the model's input resolution
    queries: int  # model queries spent per image


class MethodFn(Protocol):
    def __call__(self, model: Classifier, inputs: torch.Tensor, target: torch.Tensor,
                 params: Any, progress: Progress | None = None) -> MethodOutput: ...


@dataclass(frozen=True)
class MethodSpec:
    name: str
    fn: MethodFn
    params: type[BaseModel]
    needs: Literal["black-box", "gradients"]
    description: str

    def parse_params(self, raw: dict[str, Any] | None) -> BaseModel:
        """Validate user options; the error names the offending field."""
        if raw is not None and not isinstance(raw, dict):
            raise InvalidParams("params", "must be a JSON object")
        try:
            return self.params.model_validate(raw or {})
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "params"
            raise InvalidParams(f"params.{field}", err["msg"]) from None


METHODS: dict[str, MethodSpec] = {}


def register(name: str, params: type[BaseModel], needs: Literal["black-box", "gradients"],
             description: str) -> Callable[[MethodFn], MethodFn]:
    def deco(fn: MethodFn) -> MethodFn:
        METHODS[name] = MethodSpec(name, fn, params, needs, description)
        return fn
    return deco


def get_method(name: str) -> MethodSpec:
    try:
        return METHODS[name]
    except KeyError:
        raise UnknownMethod(f"unknown method {name!r}; known: {', '.join(sorted(METHODS))}") from None


def methods_for(gradients: bool) -> list[str]:
    """Names of the methods a model can run: black-box ones always, gradient ones when it allows."""
    return sorted(n for n, m in METHODS.items() if m.needs == "black-box" or gradients)
