"""How a model's forward pass runs: eager torch, ONNX Runtime or OpenVINO, chosen per model and
device (saliency.runtimes.select). The protocol a runtime implements is in saliency.runtimes.base."""
from saliency.runtimes.base import RUNTIME_ENV, Runtime, record

__all__ = ["RUNTIME_ENV", "Runtime", "record"]
