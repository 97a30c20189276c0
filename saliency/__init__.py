"""Saliency explanations for image classifiers: models, methods, metrics, rendering.

Importable without Redis or HTTP:

    from saliency import explain
    result = explain("cat.jpg", model="efficientnet_lite0", method="oise", params={"queries": 2000})
    result.saliency  # float32 map at the image's resolution
"""
from saliency.explain import Explanation, Prediction, explain
from saliency.methods import METHODS, get_method
from saliency.models import DEFAULT_MODEL, list_models, load_model

__all__ = ["DEFAULT_MODEL", "METHODS", "Explanation", "Prediction", "explain", "get_method",
           "list_models", "load_model"]
