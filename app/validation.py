"""Check a submission against the library before anything is stored or queued.

Only cheap look-ups: the model's spec and labels, the method's option schema, and decoding the
image. No model is loaded here; that is the worker's job.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from saliency.errors import InvalidParams, UnknownClass, UnknownMethod, UnknownModel
from saliency.images import ImageError, ImageTooLarge, open_image
from saliency.methods import get_method
from saliency.metrics.registry import parse_metrics
from saliency.models import ModelSpec, get_spec
from saliency.models.spec import resolve_target


class FieldError(Exception):
    """A form field the library rejected: HTTP 422 naming the field."""

    def __init__(self, field: str, message: str, code: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.code = code


class UploadTooLarge(Exception):
    """HTTP 413."""


class NotAnImage(Exception):
    """HTTP 415."""


class PixelsTooMany(Exception):
    """HTTP 413: the header declares more pixels than saliency.images.MAX_PIXELS (a decompression
    bomb, or just too big a photo); refused before decoding."""


@dataclass(frozen=True)
class Target:
    index: int
    label: str


@dataclass(frozen=True)
class Submission:
    image: bytes
    width: int
    height: int
    model: str
    method: str
    target: Target | None  # None: the model's top-1 class
    params: dict[str, Any]  # every option of the method, defaults filled in
    metrics: list[str] = field(default_factory=list)  # computed on the map after it is made


def validate(image: bytes, model: str, method: str, target: str | None, params: str | None,
             max_bytes: int, metrics: str | None = None) -> Submission:
    """Raise UploadTooLarge, FieldError or NotAnImage; cheapest checks first."""
    check_size(image, max_bytes)
    spec = model_spec(model)
    try:
        method_spec = get_method(method)
    except UnknownMethod as exc:
        raise FieldError("method", str(exc), "unknown_method") from None
    if method_spec.needs == "gradients" and not spec.gradients:
        raise FieldError("method", f"method {method!r} needs gradients, which model {model!r} "
                                   "does not offer; use a black-box method", "unsupported_method")
    resolved = _target(spec.labels(), target, model)
    parsed = _params(method_spec, params)
    try:
        names = parse_metrics(metrics)
    except InvalidParams as exc:
        raise FieldError("metrics", str(exc), "invalid_metrics") from None
    img = decode(image)
    return Submission(image=image, width=img.width, height=img.height, model=model, method=method,
                      target=resolved, params=parsed, metrics=names)


def check_size(image: bytes, max_bytes: int) -> None:
    if len(image) > max_bytes:
        raise UploadTooLarge(f"the image is {len(image)} bytes; the limit is {max_bytes}")


def model_spec(model: str) -> ModelSpec:
    """The registered model, or FieldError naming `model` (422)."""
    try:
        return get_spec(model)
    except UnknownModel as exc:
        raise FieldError("model", str(exc), "unknown_model") from None


def decode(image: bytes) -> Image.Image:
    """The upload as a picture (as displayed), or PixelsTooMany (413) / NotAnImage (415)."""
    try:
        return open_image(image)
    except ImageTooLarge as exc:
        raise PixelsTooMany(str(exc)) from None
    except ImageError as exc:
        raise NotAnImage(str(exc)) from None


def _target(labels: list[str], target: str | None, model: str) -> Target | None:
    if target is None or not target.strip():
        return None
    try:
        idx = resolve_target(labels, target, model)
    except UnknownClass as exc:
        raise FieldError("target", str(exc), "unknown_class") from None
    return Target(idx, labels[idx])


def _params(method_spec: Any, raw: str | None) -> dict[str, Any]:
    value: Any = None
    if raw is not None and raw.strip():
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise FieldError("params", f"not valid JSON: {exc}", "invalid_params") from None
    try:
        return method_spec.parse_params(value).model_dump(mode="json")
    except InvalidParams as exc:
        raise FieldError(exc.field, str(exc), "invalid_params") from None
