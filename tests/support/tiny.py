"""The tiny test model as a pytest fixture: a CNN trained here in seconds on planted-object images
and exported, with its labels, as a user model in a models.toml; beside it the same network as a
user's ONNX file, `tiny.onnx`, which `tiny_onnx_entry` declares. Loaded for every test from
tests/conftest.py (`pytest_plugins`)."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_toml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from saliency.models.tiny import export_tiny, export_tiny_onnx, train_tiny

    model, accuracy = train_tiny(n=1500, epochs=3)
    assert accuracy > 0.9, f"tiny model trained to only {accuracy:.2f}"
    toml = export_tiny(model, tmp_path_factory.mktemp("tiny"))
    export_tiny_onnx(model, toml.parent)
    return toml


def tiny_onnx_entry(name: str = "tiny_onnx", extra: str = "") -> str:
    """A models.toml entry for tiny.onnx, to append to tiny_toml's file (or a copy beside it)."""
    return (f'\n[models.{name}]\npath = "tiny.onnx"\nlabels = "tiny_labels.txt"\ninput_size = [32, 32]\n'
            f'mean = [0.5, 0.5, 0.5]\nstd = [0.25, 0.25, 0.25]\n{extra}')
