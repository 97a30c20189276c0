"""What both generator kinds' tests share: a models file declaring a generator, and one check on a
finished reconstruction."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image


def check_variations_with_the_classifier(rec, model, img: Image.Image) -> int:
    """Every variation keeps the known pixels exactly, and its `held` and target probability are the
    classifier's own answers on the very picture a user gets. Returns the original's top-1 index."""
    original = np.asarray(img)
    known = ~rec.hole.mask(*original.shape[:2])
    inputs = []
    for v in rec.variations:
        pixels = np.asarray(rec.variation_image(v.index))
        assert np.array_equal(pixels[known], original[known])
        inputs.append(model.preprocess(Image.fromarray(pixels)))
    with torch.inference_mode():
        probs = model(torch.cat(inputs))
        top1 = int(model(model.preprocess(img)).argmax())
    held = (probs.argmax(1) == top1).numpy()
    assert [v.held for v in rec.variations] == held.tolist()
    assert rec.acceptance == pytest.approx(held.mean())
    assert [v.target_probability for v in rec.variations] == pytest.approx(
        probs[:, rec.target.index].tolist(), abs=1e-6)
    return top1


def models_file_with_generator(tiny_toml: Path, generator: Path, into: Path, lines: str) -> Path:
    """A copy of the tiny model's folder in `into`, the generator file beside it, and `lines`
    (e.g. 'generator = "g.pt"') added to the tiny model's table. Returns the models file."""
    for path in tiny_toml.parent.iterdir():
        (into / path.name).write_bytes(path.read_bytes())
    (into / generator.name).write_bytes(generator.read_bytes())
    toml = into / "models.toml"
    toml.write_text(toml.read_text().replace("[models.tiny]\n", f"[models.tiny]\n{lines}\n"))
    return toml
