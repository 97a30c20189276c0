"""`saliency explain` and `saliency models` as a user runs them."""
import json

import numpy as np
import pytest
from PIL import Image

from saliency_cli.main import main
from saliency.data.planted import make_planted


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
