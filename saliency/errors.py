"""The one error vocabulary: every error a user can act on, from the library or the service.

Each type carries a stable `code` and the HTTP `status` the service answers it with, and an
instance may name the request `field` at fault; the service builds its JSON error body from
these alone (app/errors.py) and the CLI prints the message. Torch-free: the API imports it.
"""
from __future__ import annotations

from typing import ClassVar


class SaliencyError(Exception):
    """Base class: the message is meant for the user."""

    status: ClassVar[int] = 422
    code: ClassVar[str] = "invalid_request"
    default_field: ClassVar[str | None] = None

    def __init__(self, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field if field is not None else self.default_field
        self.headers = headers or {}


class UnknownModel(SaliencyError):
    code = "unknown_model"
    default_field = "model"


class ModelUnavailable(SaliencyError):
    """The model is known but cannot run here (e.g. its weights file is missing)."""

    code = "model_unavailable"
    default_field = "model"


class UnknownMethod(SaliencyError):
    code = "unknown_method"
    default_field = "method"


class UnsupportedMethod(SaliencyError):
    """The method needs what the model does not offer (gradients of a black-box model)."""

    code = "unsupported_method"
    default_field = "method"


class UnknownClass(SaliencyError):
    code = "unknown_class"
    default_field = "target"


class InvalidParams(SaliencyError):
    """An option of a method, metric or reconstruction; `field` names it (params.queries)."""

    code = "invalid_params"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", field=field)
        self.message = message


class InvalidMetrics(InvalidParams):
    """A metric name or list a request cannot ask for."""

    code = "invalid_metrics"


class Cancelled(SaliencyError):
    """Raised from a progress callback to stop a method early."""

    status = 409
    code = "canceled"


class NoGenerator(SaliencyError):
    """The model declares no image generator, so its salient region cannot be reconstructed."""

    code = "no_generator"
    default_field = "reconstruct"


class DuplicateName(SaliencyError):
    """A method or model registered twice under one name: a programming error, not a request's."""

    status = 500
    code = "duplicate_name"
