"""`saliency explain` and `saliency models` as a user runs them."""
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from saliency_cli.main import main
from saliency.data.planted import make_planted
from tests.support.tiny import tiny_onnx_entry


@pytest.fixture()
def planted_png(tmp_path):
    d = make_planted(1, size=48, seed=5)
    path = tmp_path / "planted.png"
    # a non-square upload: the map must come back at this size, not the model's 32 x 32
    Image.fromarray((d.images[0].transpose(1, 2, 0) * 255).astype(np.uint8)).resize((60, 45)).save(path)
    return path


def test_explain_writes_every_artifact(tiny_toml, planted_png, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SALIENCY_MODELS_FILE", str(tiny_toml))
    out = tmp_path / "out"
    code = main(["explain", str(planted_png), "--model", "tiny", "--queries", "60", "--seed", "1",
                 "--params", '{"grid": 4, "chains": 20}', "--out", str(out)])
    assert code == 0
    sal = np.load(out / "saliency.npy")
    assert sal.dtype == np.float32 and sal.shape == (45, 60)
    assert Image.open(out / "saliency.png").size == (60, 45)
    assert Image.open(out / "overlay.png").size == (60, 45)
    result = json.loads((out / "result.json").read_text())
    assert result["model"] == "tiny" and result["method"] == "oise"
    assert result["queries"] == 60 and result["params"]["seed"] == 1 and result["params"]["chains"] == 20
    assert result["target"]["label"] in ["square", "cross", "ring", "empty"]
    assert len(result["top5"]) == 4  # the model has four classes
    assert "100%" in capsys.readouterr().err  # the progress bar ran to the end


@pytest.mark.parametrize("args, message", [
    (["--model", "nope"], "unknown model 'nope'"),
    (["--model", "tiny", "--target", "triangle"], "unknown class 'triangle'"),
    (["--model", "tiny", "--method", "magic"], "unknown method 'magic'"),
    (["--model", "tiny", "--params", '{"grid": 1}'], "params.grid"),
    (["--model", "tiny", "--params", "[1]"], "JSON object"),
])
def test_explain_errors_are_one_clear_line(args, message, tiny_toml, planted_png, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SALIENCY_MODELS_FILE", str(tiny_toml))
    assert main(["explain", str(planted_png), *args, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err


def test_explain_refuses_a_file_that_is_not_an_image(tmp_path, capsys):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    assert main(["explain", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "not a readable image" in capsys.readouterr().err


def test_models_lists_the_registry(tiny_toml, monkeypatch, capsys):
    monkeypatch.setenv("SALIENCY_MODELS_FILE", str(tiny_toml))
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines]
    assert names[:2] == ["tiny", "efficientnet_lite0"] and "resnet50" in names
    assert "oise" in lines[0] and "32x32" in lines[0]


def test_explain_a_user_onnx_model(tiny_toml, planted_png, tmp_path, monkeypatch, capsys):
    """`path = "tiny.onnx"` in the models file: explained like any model, on an ONNX engine."""
    toml = tmp_path / "models.toml"
    toml.write_text(tiny_toml.read_text() + tiny_onnx_entry())
    for name in ("tiny.onnx", "tiny_labels.txt"):
        shutil.copy(tiny_toml.parent / name, tmp_path)
    monkeypatch.setenv("SALIENCY_MODELS_FILE", str(toml))
    out = tmp_path / "out"
    assert main(["explain", str(planted_png), "--model", "tiny_onnx", "--queries", "60",
                 "--params", '{"grid": 4, "chains": 20}', "--out", str(out)]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["model"] == "tiny_onnx" and result["runtime"].split()[0] in ("onnxruntime", "openvino")
    assert np.load(out / "saliency.npy").shape == (45, 60)
    assert main(["explain", str(planted_png), "--model", "tiny_onnx", "--method", "gradcam",
                 "--out", str(out)]) == 2
    assert "needs gradients, which model 'tiny_onnx' does not offer" in capsys.readouterr().err
    assert main(["models"]) == 0
    listed = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("tiny_onnx"))
    assert "oise" in listed and "gradcam" not in listed
