"""The in-painter generator (G(z, context, mask)): training, file format, and the whole
reconstruction path with it, down to real classifier calls on the variations.

An in-painter trained here for a few seconds (width 8, one epoch on 128 planted images) stands in
for a real one: these tests check the machinery, not the quality of the in-fills, which is
`saliency bench reconstruction`'s job (docs/benchmarks.md).
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from saliency.data.planted import make_planted
from saliency.errors import ModelUnavailable
from saliency.models.spec import LoadedModel
from saliency.reconstruction import reconstruct
from saliency.reconstruction.holes import known_masks
from saliency.reconstruction.inpainter import FORMAT, InpainterConfig, build_inpainter, load_inpainter
from saliency.reconstruction.train_inpainter import InpainterOptions, planted_with_boxes, train_inpainter
from tests.support.reconstruction import check_variations_with_the_classifier, models_file_with_generator

FAST = {"variations": 6, "steps": 8, "lr": 0.05}
CFG = InpainterConfig(32, nz=8, width=8)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="session")
def inpainter_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("inpainter") / "inpainter.pt"
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    train_inpainter(planted_with_boxes(128, 32), CFG, out, InpainterOptions(epochs=1, batch_size=32))
    torch.set_num_threads(before)
    return out


@pytest.fixture()
def tiny_inp(tiny: LoadedModel, inpainter_file: Path) -> LoadedModel:
    """The tiny classifier with the tiny in-painter declared beside it, kind stated."""
    spec = dataclasses.replace(tiny.spec, generator=inpainter_file, generator_kind="inpainter")
    return LoadedModel(spec, torch.device("cpu"))


def test_inpainter_never_reads_the_hidden_pixels() -> None:
    g, _ = build_inpainter(CFG)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    known = torch.ones(2, 1, 32, 32)
    known[:, :, 8:20, 10:24] = 0
    other = x.clone()
    other[:, :, 8:20, 10:24] = torch.rand(2, 3, 12, 14)
    z = torch.rand(2, CFG.nz) * 2 - 1
    assert torch.equal(g(z, x, known), g(z, other, known))
    assert not torch.equal(g(z, x, known), g(z, x.flip(-1), known))  # ...but it does read the context


def test_training_holes_are_centred_shares_of_object_boxes_or_random_boxes() -> None:
    gen = torch.Generator().manual_seed(0)
    boxes = torch.tensor([[10, 12, 19, 21]] * 200)  # a 9 px object centred at (14.5, 16.5)
    masks = known_masks(200, 32, gen, boxes, random_share=0.0)
    for m in masks[:, 0]:
        ys, xs = torch.nonzero(m == 0, as_tuple=True)
        assert abs(float(xs.float().mean()) - 14) <= 3 and abs(float(ys.float().mean()) - 16) <= 3
        assert 1 <= len(ys) <= 15 * 15  # at most 0.95 of the box grown 1.5 times, rounded
    anywhere = known_masks(200, 32, gen, None)
    centres = [float(torch.nonzero(m == 0)[:, 1].float().mean()) for m in anywhere[:, 0]]
    assert min(centres) < 8 and max(centres) > 24  # random boxes reach the whole image


def test_checkpoint_loads_with_weights_only_and_resume_matches_one_run(tmp_path: Path) -> None:
    data = planted_with_boxes(64, 32)
    cfg = InpainterConfig(32, nz=4, width=4)
    opts = InpainterOptions(epochs=2, batch_size=32)
    once, twice = tmp_path / "once.pt", tmp_path / "twice.pt"
    train_inpainter(data, cfg, once, opts, samples_dir=tmp_path / "s")
    first = train_inpainter(data, cfg, twice, dataclasses.replace(opts, epochs=1))
    train_inpainter(data, cfg, twice, opts)  # resumes after epoch 1
    a = torch.load(once, weights_only=True)
    b = torch.load(twice, weights_only=True)
    assert a["format"] == b["format"] == FORMAT and a["epochs"] == b["epochs"] == 2
    for key in a["generator"]:
        assert torch.equal(a["generator"][key], b["generator"][key]), key
    assert b["train_seconds"] > first["train_seconds"] > 0  # summed over both sessions
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["epoch_001.png", "epoch_002.png"]
    with Image.open(tmp_path / "s" / "epoch_002.png") as grid:  # 8 rows of context + 7 in-fills
        assert grid.size == (8 * 33 + 1, 8 * 33 + 1)
    loaded, g, d = load_inpainter(a)
    assert loaded == cfg and not g.training and not d.training


def test_different_latents_give_different_infills(tiny_inp: LoadedModel, planted_case) -> None:
    """With the paper's objective (no spread term) the K variations still differ, by more than the
    8-bit rounding of a saved picture: z reaches the in-fill. A generator that ignored z, or a
    search that drew every variation from one latent, would give diversity 0."""
    img, sal = planted_case
    rec = reconstruct(img, sal, tiny_inp, params={**FAST, "diversity_weight": 0.0})
    assert rec.diversity > 2 / 255, rec.diversity
    assert len({p.tobytes() for p in rec.patches}) == FAST["variations"]


def _hole_spread(path: Path) -> float:
    """RMS difference inside the holes between the in-fills of two latents, 16 planted contexts."""
    _, g, _ = load_inpainter(torch.load(path, weights_only=True))
    data = planted_with_boxes(16, 32, seed=1)
    x = data.tensors[0]
    known = known_masks(16, 32, torch.Generator().manual_seed(1), data.tensors[1], random_share=0.0)
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():
        a = g(torch.rand(16, g.nz, generator=gen) * 2 - 1, x, known)
        b = g(torch.rand(16, g.nz, generator=gen) * 2 - 1, x, known)
    hole = 1 - known
    return float(((((a - b) / 2) ** 2) * hole).sum() / (3 * hole.sum())) ** 0.5


def test_mode_seeking_term_spreads_the_infills(tmp_path: Path) -> None:
    data = planted_with_boxes(128, 32)
    for weight in (0.0, 0.5):
        train_inpainter(data, CFG, tmp_path / f"ms{weight}.pt", InpainterOptions(epochs=1, batch_size=32,
                                                                                   ms_weight=weight))
    without, with_ = _hole_spread(tmp_path / "ms0.0.pt"), _hole_spread(tmp_path / "ms0.5.pt")
    assert with_ > 1.2 * without, (without, with_)


def test_whole_path_keeps_known_pixels_and_checks_the_outcome_with_the_classifier(
        tiny_inp: LoadedModel, planted_case) -> None:
    img, sal = planted_case
    for params in (FAST, {**FAST, "outcome_weight": 5.0}):  # the outcome term differentiates G(z, x, B)
        rec = reconstruct(img, sal, tiny_inp, params=params)
        assert rec.generator_kind == "inpainter" and rec.summary()["generator_kind"] == "inpainter"
        check_variations_with_the_classifier(rec, tiny_inp, img)


def test_declared_kind_must_match_the_file(tiny: LoadedModel, inpainter_file: Path, planted_case) -> None:
    img, sal = planted_case
    spec = dataclasses.replace(tiny.spec, generator=inpainter_file, generator_kind="dcgan")
    with pytest.raises(ModelUnavailable, match="of kind 'inpainter'.*generator_kind = 'dcgan'"):
        reconstruct(img, sal, LoadedModel(spec, torch.device("cpu")), params=FAST)
    undeclared = dataclasses.replace(spec, generator_kind=None)  # no kind stated: the file's is used
    assert reconstruct(img, sal, LoadedModel(undeclared, torch.device("cpu")), params=FAST).generator_kind == "inpainter"


def test_models_file_states_the_generators_kind(tiny_toml: Path, inpainter_file: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from saliency.models import get_spec

    toml = models_file_with_generator(tiny_toml, inpainter_file, tmp_path,
                                      f'generator = "{inpainter_file.name}"\ngenerator_kind = "inpainter"')
    monkeypatch.setenv("SALIENCY_MODELS_FILE", str(toml))
    spec = get_spec("tiny")
    assert spec.generator == tmp_path / inpainter_file.name and spec.generator_kind == "inpainter"
    toml.write_text(toml.read_text().replace('"inpainter"', '"vae"'))
    with pytest.raises(ModelUnavailable, match="generator_kind"):
        get_spec("tiny")


def test_train_generator_command_kind_inpainter(tmp_path: Path) -> None:
    from saliency_cli.main import main

    out = tmp_path / "g.pt"
    args = ["train-generator", "--kind", "inpainter", "--planted", "64", "--image-size", "32", "--out", str(out),
            "--epochs", "1", "--width", "4", "--nz", "4", "--batch-size", "32", "--device", "cpu"]
    assert main(args) == 0
    state = torch.load(out, weights_only=True)
    assert state["format"] == FORMAT and state["config"] == {"image_size": 32, "nz": 4, "width": 4, "channels": 3}
    assert state["epochs"] == 1 and (tmp_path / "g_samples" / "epoch_001.png").exists()
    dcgan = [a if a != "inpainter" else "dcgan" for a in args]
    assert main(dcgan) == 2  # a DCGAN run does not resume from an in-painter's file
    assert torch.load(out, weights_only=True)["format"] == FORMAT


def test_a_team_trains_an_inpainter_on_its_own_folder_and_declares_it(
        tiny_toml: Path, planted_case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """README's recipe: train-generator --kind inpainter --data <folder>, then generator_kind in models.toml."""
    from saliency.models import get_spec
    from saliency_cli.main import main

    photos = tmp_path / "photos" / "nested"
    photos.mkdir(parents=True)
    data = make_planted(24, size=48, seed=5)
    for i, im in enumerate(data.images):  # not square, not the training size: centre-cropped, resized
        pixels = (im.transpose(1, 2, 0) * 255).round().astype("uint8")[:, : 40 if i % 2 else 48]
        Image.fromarray(pixels).save(photos / f"{i}.{'png' if i % 3 else 'jpg'}")
    out = tmp_path / "models" / "my_inpainter.pt"
    assert main(["train-generator", "--kind", "inpainter", "--data", str(tmp_path / "photos"), "--image-size", "32",
                 "--out", str(out), "--epochs", "1", "--width", "4", "--nz", "4", "--batch-size", "8",
                 "--device", "cpu"]) == 0
    assert torch.load(out, weights_only=True)["epochs"] == 1
    assert (out.parent / "my_inpainter_samples" / "epoch_001.png").exists()
    for path in tiny_toml.parent.iterdir():
        (out.parent / path.name).write_bytes(path.read_bytes())
    toml = out.parent / tiny_toml.name
    toml.write_text(toml.read_text().replace(
        "[models.tiny]\n", '[models.tiny]\ngenerator = "my_inpainter.pt"\ngenerator_kind = "inpainter"\n'))
    monkeypatch.setenv("SALIENCY_MODELS_FILE", str(toml))
    img, sal = planted_case
    rec = reconstruct(img, sal, LoadedModel(get_spec("tiny"), torch.device("cpu")), params=FAST)
    assert rec.generator_kind == "inpainter" and len(rec.variations) == FAST["variations"]


def test_bench_compares_both_kinds_on_the_same_holes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A toy-sized `saliency bench reconstruction --kinds inpainter,dcgan`, through the library."""
    from saliency.bench.reconstruction import BenchConfig, run

    monkeypatch.setenv("SALIENCY_CACHE_DIR", str(tmp_path / "cache"))
    args = BenchConfig(
        kinds=("inpainter", "dcgan"), images=2, variations=3, steps=2, fractions=(0.5,), queries=50,
        gan_images=64, gan_epochs=1, gan_width=4, inp_images=64, inp_epochs=1, inp_width=4, inp_nz=4,
        inp_batch=32, tiny_images=200, tiny_epochs=1, outcome_weight=2, window=5)
    result = run(args)
    assert [(r["kind"], r["outcome_weight"]) for r in result["rows"]] == [
        ("inpainter", 0.0), ("inpainter", 2.0), ("dcgan", 0.0), ("dcgan", 2.0)]
    assert len({json.dumps(r["holes"]) for r in result["rows"]}) == 1  # same images, maps and holes
    for kind, gen in result["generators"].items():
        assert gen["train_seconds"] > 0 and Path(gen["path"]).parent.name == kind
    again = run(args)  # cached: nothing is trained twice, and the training time is the first run's
    assert again["generators"] == result["generators"]
