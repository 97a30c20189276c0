"""Errors a caller can act on. The service maps each to an HTTP status; the CLI prints them."""
from __future__ import annotations


class SaliencyError(Exception):
    """Base class: the message is meant for the user."""


class UnknownModel(SaliencyError):
    pass


class ModelUnavailable(SaliencyError):
    """The model is known but its weights cannot be loaded here (e.g. offline, file missing)."""


class UnknownMethod(SaliencyError):
    pass


class UnknownClass(SaliencyError):
    pass


class InvalidParams(SaliencyError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class Cancelled(SaliencyError):
    """Raised from a progress callback to stop a method early."""


class NoGenerator(SaliencyError):
    """The model declares no image generator, so its salient region cannot be reconstructed."""
