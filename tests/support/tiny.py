"""The tiny test model as a pytest fixture: a CNN trained here in seconds on planted-object images
and exported, with its labels, as a user model in a models.toml. Loaded for every test from
tests/conftest.py (`pytest_plugins`)."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_toml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from saliency.models.tiny import export_tiny, train_tiny

    model, accuracy = train_tiny(n=1500, epochs=3)
    assert accuracy > 0.9, f"tiny model trained to only {accuracy:.2f}"
    return export_tiny(model, tmp_path_factory.mktemp("tiny"))
