"""What a model looks like from outside: enough to validate a request for it and to list it,
without loading it. Workers describe the models they can run (saliency.models.describe) and
publish these; the API reads them (jobs.catalog)."""
from __future__ import annotations

import hashlib

from pydantic import BaseModel, Field


class ModelInfo(BaseModel):
    name: str
    description: str = ""
    source: str = Field(description="builtin, torchvision or config (a user model)")
    input_size: tuple[int, int] = Field(description="(height, width) images are resized to")
    classes: int = Field(description="number of classes")
    gradients: bool = Field(description="whether gradient-based methods can run on it")
    methods: list[str] = Field(description="registered methods that can explain it")
    generator: bool = Field(False, description="declares a generator, so reconstruct=true is possible")
    available: bool = Field(True, description="its weights (and generator) are present where it runs")
    unavailable_reason: str | None = Field(None, description="why it cannot run, and how to fix it")
    labels_sha256: str = Field(description="SHA-256 of its class names, one per line")


def labels_digest(labels: list[str]) -> str:
    return hashlib.sha256("\n".join(labels).encode()).hexdigest()
