"""Saliency explanations for image classifiers: models, methods, metrics, rendering.

Importable without Redis or HTTP:

    from saliency import explain
    result = explain("cat.jpg", model="efficientnet_lite0", method="oise", params={"queries": 2000})
    result.saliency  # float32 map at the image's resolution

Importing the package itself loads nothing heavy: the names below resolve on first use, so the
torch-free parts (saliency.catalog, saliency.errors, saliency.images) serve the API without torch.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "explain": "saliency.explanation", "Explanation": "saliency.explanation", "Prediction": "saliency.explanation",
    "get_method": "saliency.methods", "METHODS": "saliency.catalog.methods",
    "DEFAULT_MODEL": "saliency.models", "list_models": "saliency.models", "load_model": "saliency.models",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'saliency' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
