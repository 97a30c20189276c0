"""Saliency methods, registered by name. Importing this package registers all of them."""
from saliency.methods.base import METHODS, MethodOutput, MethodSpec, get_method, register
from saliency.methods import oise  # noqa: F401  (registers "oise")

__all__ = ["METHODS", "MethodOutput", "MethodSpec", "get_method", "register"]
