"""The library's tests: no Redis, no HTTP; the tiny model loaded through the registry."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

torch.set_num_threads(2)


@pytest.fixture()
def tiny(tiny_toml: Path, monkeypatch: pytest.MonkeyPatch):
    """The tiny model loaded through the registry, as the service would load it."""
    from saliency.models import load_model

    monkeypatch.setenv("SALIENCY_MODELS_FILE", str(tiny_toml))
    return load_model("tiny", device="cpu")


@pytest.fixture(scope="session")
def planted_case() -> tuple[Image.Image, np.ndarray]:
    """A planted picture and a map peaking on its object (the ground-truth mask, blurred)."""
    from saliency.data.planted import make_planted

    data = make_planted(1, size=32, seed=3, distractor_rate=0.0)
    img = Image.fromarray((data.images[0].transpose(1, 2, 0) * 255).round().astype(np.uint8))
    sal = torch.nn.functional.avg_pool2d(torch.from_numpy(data.masks[0]).float()[None, None], 3, 1, 1)[0, 0]
    return img, sal.numpy()


@pytest.fixture()
def one_thread():
    """For tiny networks (the generators' tests): a second thread only adds synchronisation and,
    on a shared machine, waiting for a core."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
