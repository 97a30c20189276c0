"""Saliency methods. Their names and options are declared in saliency.catalog.methods; the
functions live in this package's modules and are imported on first use."""
from saliency.catalog.methods import METHODS, methods_for
from saliency.methods.base import MethodOutput, MethodSpec, get_method

__all__ = ["METHODS", "MethodOutput", "MethodSpec", "get_method", "methods_for"]
