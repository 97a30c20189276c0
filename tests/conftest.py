"""Shared pytest configuration."""

# --- Service (app/, worker/) -----------------------------------------------------------------
# The HTTP/queue tests' fixtures (redis-server, worker and API processes) live in their own
# module; this line is the service side's only entry in this file.
pytest_plugins = ["tests.service_fixtures"]

# --- Core (saliency/) ------------------------------------------------------------------------
import os  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tiny_toml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny CNN trained here in seconds on planted-object images, declared as a user model."""
    from saliency.models.tiny import export_tiny, train_tiny

    model, accuracy = train_tiny(n=1500, epochs=3)
    assert accuracy > 0.9, f"tiny model trained to only {accuracy:.2f}"
    return export_tiny(model, tmp_path_factory.mktemp("tiny"))


@pytest.fixture()
def tiny(tiny_toml: Path, monkeypatch: pytest.MonkeyPatch):
    """The tiny model loaded through the registry, as the service would load it."""
    from saliency.models import load_model

    monkeypatch.setenv("SALIENCY_MODELS_FILE", str(tiny_toml))
    return load_model("tiny", device="cpu")
