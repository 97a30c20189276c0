"""Saliency methods, registered by name. Importing this package registers all of them."""
from saliency.methods.base import METHODS, MethodOutput, MethodSpec, get_method, methods_for, register
from saliency.methods import oise, rise  # noqa: F401  (registers them)
from saliency.methods import extremal, gradcam, integrated_gradients, occlusion  # noqa: F401

__all__ = ["METHODS", "MethodOutput", "MethodSpec", "get_method", "methods_for", "register"]
