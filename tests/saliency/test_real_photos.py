"""The offline ImageNet model on scikit-image's real photos: the map must find the cat."""
import numpy as np
import pytest
from PIL import Image

from saliency import explain

skimage_data = pytest.importorskip("skimage.data")


def test_cat_pasted_into_a_corner_is_where_the_peak_is():
    scene = Image.fromarray(skimage_data.gravel()).convert("RGB").resize((448, 448))
    cat = Image.fromarray(skimage_data.chelsea()).resize((224, 149))
    scene.paste(cat, (448 - 224, 448 - 149))  # bottom-right quarter
    result = explain(scene, model="efficientnet_lite0", params={"queries": 300, "chains": 50})
    assert "cat" in result.target.label  # the model sees the cat despite the gravel
    assert result.saliency.shape == (448, 448)
    y, x = np.unravel_index(result.saliency.argmax(), result.saliency.shape)
    assert x >= 224 and y >= 448 - 149, f"peak at {(x, y)}, outside the cat"
