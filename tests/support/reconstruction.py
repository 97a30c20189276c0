"""One check both generator kinds' tests make on a finished reconstruction."""
from __future__ import annotations

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
