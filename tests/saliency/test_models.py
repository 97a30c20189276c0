"""The registry: names carry weights, preprocessing and labels; mistakes get clear errors."""
import numpy as np
import pytest
import torch
from PIL import Image

from saliency.errors import ModelUnavailable, UnknownClass, UnknownModel
from saliency.models import get_spec, list_models, load_model
from saliency.catalog.targets import resolve_target


def test_unknown_model_is_a_clear_error():
    with pytest.raises(UnknownModel, match="unknown model 'resnet5000'"):
        get_spec("resnet5000")


def test_a_path_is_not_a_model_name(tmp_path):
    with pytest.raises(UnknownModel):
        get_spec(str(tmp_path / "evil.pt"))


def test_targets_by_name_index_and_top1(tiny):
    assert resolve_target(tiny.labels, "Ring") == 2
    assert resolve_target(tiny.labels, 1) == 1
    assert resolve_target(tiny.labels, "0") == 0
    assert tiny.resolve_target(None, torch.tensor([0.1, 0.7, 0.1, 0.1])) == 1
    with pytest.raises(UnknownClass, match="did you mean 'square'"):
        resolve_target(tiny.labels, "squares", "tiny")
    with pytest.raises(UnknownClass, match="out of range"):
        resolve_target(tiny.labels, 7)


def test_user_model_from_toml_with_env_override(tiny_toml, monkeypatch):
    monkeypatch.setenv("SALIENCY_MODELS_FILE", str(tiny_toml))
    monkeypatch.setenv("SALIENCY_MODELS__tiny__description", "overridden")
    spec = get_spec("tiny")
    assert spec.input_size == (32, 32) and spec.description == "overridden"
    assert spec.labels() == ["square", "cross", "ring", "empty"]
    assert "tiny" in [s.name for s in list_models()]


def test_user_model_with_missing_file_names_it(tmp_path, monkeypatch):
    toml = tmp_path / "models.toml"
    toml.write_text('[models.gone]\npath = "gone.pt"\nlabels = "l.txt"\ninput_size = [8, 8]\n'
                    "mean = [0, 0, 0]\nstd = [1, 1, 1]\n")
    monkeypatch.setenv("SALIENCY_MODELS_FILE", str(toml))
    with pytest.raises(ModelUnavailable, match="gone.pt"):
        load_model("gone", device="cpu")


def test_torchvision_model_offline_names_the_weights_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("SALIENCY_OFFLINE", "1")
    spec = get_spec("resnet18")
    assert spec.input_size == (224, 224) and len(spec.labels()) == 1000
    with pytest.raises(ModelUnavailable, match=r"resnet18-.*\.pth"):
        spec.build()


def test_efficientnet_lite0_recognises_real_photos():
    skimage_data = pytest.importorskip("skimage.data")
    model = load_model("efficientnet_lite0", device="cpu")
    for photo, label in [("chelsea", "Egyptian cat"), ("coffee", "espresso")]:
        x = model.preprocess(Image.fromarray(getattr(skimage_data, photo)()))
        with torch.inference_mode():
            probs = model(x)[0]
        assert model.labels[int(probs.argmax())] == label
        assert float(probs.sum()) == pytest.approx(1.0, abs=1e-4)


def test_preprocessing_resizes_the_whole_image_without_cropping(tiny):
    img = np.zeros((40, 80, 3), dtype=np.uint8)
    img[:, 70:] = 255  # a stripe a centre crop would cut off
    x = tiny.preprocess(Image.fromarray(img))
    assert x.shape == (1, 3, 32, 32)
    assert x[0, :, :, -1].mean() > x[0, :, :, 0].mean()
