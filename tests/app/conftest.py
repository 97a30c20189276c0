"""The HTTP API's tests: the shared stack (tests/support/stack.py) driven over real HTTP, and apps
built in-process with other settings."""
from pathlib import Path

import pytest


@pytest.fixture()
def tiny(tiny_models_file: Path, monkeypatch: pytest.MonkeyPatch):
    """The tiny model, loaded here from the models file the stack's worker uses: what its answers
    must agree with."""
    from saliency.models import load_model

    monkeypatch.setenv("SALIENCY_MODELS_FILE", str(tiny_models_file))
    return load_model("tiny", device="cpu")
