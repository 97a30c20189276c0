"""The library's tests: no Redis, no HTTP; the tiny model loaded through the registry."""
from pathlib import Path

import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture()
def tiny(tiny_toml: Path, monkeypatch: pytest.MonkeyPatch):
    """The tiny model loaded through the registry, as the service would load it."""
    from saliency.models import load_model

    monkeypatch.setenv("SALIENCY_MODELS_FILE", str(tiny_toml))
    return load_model("tiny", device="cpu")
