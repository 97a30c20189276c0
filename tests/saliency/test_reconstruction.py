"""Reconstruction of the salient region: composite, search, outcome check, determinism, errors.

A DCGAN trained here for a few seconds (tiny widths, one epoch) stands in for a real generator:
the tests check the machinery, not the quality of the in-fill (that is `saliency bench
reconstruction`'s job).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from saliency.data.planted import make_planted
from saliency.errors import Cancelled, InvalidParams, NoGenerator
from saliency.models.spec import LoadedModel
from saliency.reconstruction import reconstruct
from saliency.reconstruction.composite import composite, sample_fill
from saliency.reconstruction.dcgan import GanConfig, build, load_pair, save_checkpoint
from saliency.reconstruction.metrics import NEAR_COPY_RMS, diversity, near_copies
from saliency.reconstruction.region import Box, hole_box, salient_box
from saliency.reconstruction.search import context_weights, default_window, spread_loss
from saliency.reconstruction.train import TrainOptions, planted_images, train_gan
from tests.support.reconstruction import check_variations_with_the_classifier, models_file_with_generator

FAST = {"variations": 6, "steps": 8, "lr": 0.05}

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="session")
def gan_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gan") / "gan.pt"
    train_gan(planted_images(256, 32), GanConfig(32, nz=16, width=8), out, TrainOptions(epochs=1))
    return out


@pytest.fixture()
def tiny_gen(tiny: LoadedModel, gan_file: Path) -> LoadedModel:
    """The tiny classifier with the tiny generator declared beside it."""
    return LoadedModel(dataclasses.replace(tiny.spec, generator=gan_file), torch.device("cpu"))


def test_salient_box_takes_the_peaks_region_and_the_hole_its_share() -> None:
    sal = np.zeros((40, 50), np.float32)
    sal[5:15, 10:22] = 1.0  # the peak's blob
    sal[30:36, 40:46] = 0.8  # a weaker blob above the threshold, not connected
    box = salient_box(sal, threshold=0.5)
    assert box == Box(10, 5, 22, 15)
    for fraction in (0.1, 0.5, 0.9):
        hole = hole_box(box, fraction)
        assert abs(hole.area / box.area - fraction) < 0.12
        # centred: the margins on either side differ by at most a pixel
        assert abs((hole.x0 - box.x0) - (box.x1 - hole.x1)) <= 1
        assert abs((hole.y0 - box.y0) - (box.y1 - hole.y1)) <= 1


def test_context_weights_count_hole_pixels_near_known_ones() -> None:
    known = torch.ones(1, 1, 32, 32)
    known[..., 12:20, 12:20] = 0
    w = context_weights(known, default_window(32))
    assert default_window(32) == 11 and default_window(64) == 21  # 70 px at 224, scaled and odd
    assert (w[..., 12:20, 12:20] == 0).all()  # nothing inside the hole
    assert w[0, 0, 11, 15] > w[0, 0, 8, 15] > 0  # more weight next to the hole
    assert w[0, 0, 0, 0] == 0  # farther than half a window: no weight


def test_composite_keeps_known_pixels_exactly_and_never_reads_hidden_ones() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (3, 30, 40), generator=gen).float() / 255
    hole, crop = Box(10, 8, 22, 18), Box(7, 5, 25, 21)
    fill = torch.rand(4, 3, crop.height, crop.width, generator=gen)
    out = composite(x, fill, hole, crop, feather=3)
    inside = torch.from_numpy(hole.mask(30, 40)[crop.y0:crop.y1, crop.x0:crop.x1])
    patch = x[:, crop.y0:crop.y1, crop.x0:crop.x1]
    assert torch.equal(out[:, :, ~inside], patch[None].expand_as(out)[:, :, ~inside])
    assert not torch.equal(out[:, :, inside], fill[:, :, inside])  # the seam moved the in-fill...
    deep = torch.zeros_like(inside)
    deep[6:8, 6:12] = True  # ...but not farther than `feather` px inside the hole
    assert torch.equal(out[:, :, deep], fill[:, :, deep])
    changed = x.clone()
    changed[:, hole.y0:hole.y1, hole.x0:hole.x1] = 0.5
    assert torch.equal(composite(changed, fill, hole, crop, feather=3), out)


def test_fill_is_resampled_at_full_resolution() -> None:
    fake = torch.rand(2, 3, 8, 8)
    full = torch.nn.functional.interpolate(fake, size=(24, 40), mode="bilinear", align_corners=False)
    crop = Box(5, 3, 30, 20)
    assert torch.allclose(sample_fill(fake, crop, 24, 40), full[:, :, 3:20, 5:30], atol=1e-5)


def test_diversity_is_zero_for_copies_and_grows_with_difference() -> None:
    inside = torch.zeros(6, 6, dtype=torch.bool)
    inside[1:5, 1:5] = True
    original = torch.rand(3, 6, 6, generator=torch.Generator().manual_seed(1))
    assert diversity(original[None].repeat(5, 1, 1, 1), inside) == 0.0
    copies = near_copies(original, inside, k=16)
    assert NEAR_COPY_RMS < diversity(copies, inside) < 2 * NEAR_COPY_RMS
    assert diversity(torch.rand(16, 3, 6, 6), inside) > 5 * NEAR_COPY_RMS


def test_networks_score_each_image_alone_in_eval_mode() -> None:
    """BatchNorm uses training statistics in eval mode, so one latent's image and prior do not
    depend on the other latents searched with it."""
    cfg = GanConfig(32, nz=8, width=4)
    g, d = build(cfg)
    g.train(), d.train()
    g(torch.rand(16, 8))  # some running statistics
    d(torch.rand(16, 3, 32, 32))
    g.eval(), d.eval()
    z, x = torch.rand(5, 8), torch.rand(5, 3, 32, 32)
    assert torch.allclose(g(z)[:1], g(z[:1]), atol=1e-6)
    assert torch.allclose(d(x)[:1], d(x[:1]), atol=1e-6)


def test_checkpoint_loads_with_weights_only_and_resume_matches_one_run(tmp_path: Path) -> None:
    data = planted_images(96, 32)
    cfg = GanConfig(32, nz=8, width=4)
    once, twice = tmp_path / "once.pt", tmp_path / "twice.pt"
    train_gan(data, cfg, once, TrainOptions(epochs=2, batch_size=32), samples_dir=tmp_path / "s")
    train_gan(data, cfg, twice, TrainOptions(epochs=1, batch_size=32))
    train_gan(data, cfg, twice, TrainOptions(epochs=2, batch_size=32))  # resumes after epoch 1
    a = torch.load(once, weights_only=True)
    b = torch.load(twice, weights_only=True)
    assert a["epochs"] == b["epochs"] == 2
    for key in a["generator"]:
        assert torch.equal(a["generator"][key], b["generator"][key]), key
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["epoch_001.png", "epoch_002.png"]
    loaded_cfg, g, _ = load_pair(once)
    assert loaded_cfg == cfg and not g.training


def test_reconstruct_keeps_known_pixels_and_measures_the_outcome(tiny_gen: LoadedModel, planted_case) -> None:
    img, sal = planted_case
    rec = reconstruct(img, sal, tiny_gen, params=FAST)
    assert len(rec.variations) == FAST["variations"]
    # Acceptance comes from the classifier's answers on the very pictures a user gets.
    top1 = check_variations_with_the_classifier(rec, tiny_gen, img)
    assert rec.original_top1.index == top1
    # the hole lies inside the salient box, which holds the planted object's peak
    assert rec.salient_box.x0 <= rec.hole.x0 < rec.hole.x1 <= rec.salient_box.x1
    summary = rec.summary()
    assert summary["near_copy_floor"] == NEAR_COPY_RMS and len(summary["variations"]) == FAST["variations"]


def test_equal_seeds_give_equal_variations(tiny_gen: LoadedModel, planted_case) -> None:
    img, sal = planted_case
    a = reconstruct(img, sal, tiny_gen, params={**FAST, "seed": 4})
    b = reconstruct(img, sal, tiny_gen, params={**FAST, "seed": 4})
    c = reconstruct(img, sal, tiny_gen, params={**FAST, "seed": 5})
    assert np.array_equal(a.patches, b.patches)
    assert [v.context_loss for v in a.variations] == [v.context_loss for v in b.variations]
    assert not np.array_equal(a.patches, c.patches)


def test_generator_of_another_size_fills_a_non_square_image(tiny: LoadedModel, tmp_path: Path) -> None:
    """A 64 px generator (built, untrained) for a 32 px classifier on a 45 x 70 picture."""
    cfg = GanConfig(64, nz=8, width=4)
    g, d = build(cfg)
    save_checkpoint(tmp_path / "g64.pt", cfg, g, d)
    model = LoadedModel(dataclasses.replace(tiny.spec, generator=tmp_path / "g64.pt"), torch.device("cpu"))
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (45, 70, 3), dtype=np.uint8))
    sal = np.zeros((45, 70), np.float32)
    sal[10:30, 20:50] = 1
    rec = reconstruct(img, sal, model, params={**FAST, "hidden": 0.3})
    assert rec.generator_size == 64
    known = ~rec.hole.mask(45, 70)
    assert np.array_equal(np.asarray(rec.variation_image(0))[known], np.asarray(img)[known])
    assert rec.view.as_list() == [0, 0, 70, 45] or rec.view.area < 45 * 70


def test_progress_reaches_one_and_cancels(tiny_gen: LoadedModel, planted_case) -> None:
    img, sal = planted_case
    seen: list[float] = []
    reconstruct(img, sal, tiny_gen, params=FAST, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > FAST["steps"]

    calls: list[float] = []

    def stop(fraction: float) -> None:
        calls.append(fraction)
        if len(calls) == 3:
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        reconstruct(img, sal, tiny_gen, params=FAST, progress=stop)
    assert len(calls) == 3


class _LinearGenerator(torch.nn.Module):
    """z -> tanh(W z) as a 32 px image: every pixel depends on z, so the search can steer it."""

    def __init__(self, nz: int = 64) -> None:
        super().__init__()
        self.nz = nz
        self.fc = torch.nn.Linear(nz, 3 * 32 * 32)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.fc(z)).view(-1, 3, 32, 32)


@pytest.fixture()
def linear_gen(tiny: LoadedModel, tmp_path: Path) -> LoadedModel:
    """The tiny classifier with a TorchScript linear generator (no discriminator: no prior term)."""
    torch.manual_seed(0)
    torch.jit.save(torch.jit.script(_LinearGenerator()), str(tmp_path / "linear.pt"))
    return LoadedModel(dataclasses.replace(tiny.spec, generator=tmp_path / "linear.pt"), torch.device("cpu"))


def test_outcome_term_raises_the_target_probability(linear_gen: LoadedModel, planted_case) -> None:
    model = linear_gen
    img, sal = planted_case
    params = {**FAST, "steps": 40, "hidden": 0.5, "lr": 0.05}
    plain = reconstruct(img, sal, model, params=params)
    pushed = reconstruct(img, sal, model, params={**params, "outcome_weight": 20.0})
    assert plain.generator_size == 32
    assert pushed.mean_target_probability > plain.mean_target_probability + 0.3
    assert pushed.acceptance > plain.acceptance


def test_spread_loss_charges_only_pairs_closer_than_the_margin() -> None:
    known = torch.ones(4, 1, 8, 8)
    known[:, :, 2:6, 2:6] = 0  # a 4x4 hole: 48 values with 3 channels
    same = torch.zeros(4, 3, 8, 8)  # two images, K = 2, each pair identical
    assert torch.allclose(spread_loss(same, known, 2, margin=0.1), torch.full((4,), 0.1 * 48), atol=1e-4)
    apart = same.clone()
    apart[1::2, :, 2:6, 2:6] = 0.5  # second in-fill of each image 0.25 RMS away in [0, 1] units
    assert torch.allclose(spread_loss(apart, known, 2, margin=0.1), torch.zeros(4), atol=1e-6)
    outside = same.clone()
    outside[1::2, :, 0, :] = 1.0  # differences outside the hole do not count
    assert torch.allclose(spread_loss(outside, known, 2, margin=0.1), torch.full((4,), 0.1 * 48), atol=1e-4)


def test_spread_term_keeps_variations_apart(linear_gen: LoadedModel, planted_case) -> None:
    """Searched long enough against the same context, the K latents of the linear generator settle
    on near-identical in-fills; the spread term keeps them apart."""
    model = linear_gen
    img, sal = planted_case
    params = {**FAST, "steps": 60, "hidden": 0.5, "lr": 0.05}
    plain = reconstruct(img, sal, model, params={**params, "diversity_weight": 0.0})
    spread = reconstruct(img, sal, model, params={**params, "diversity_weight": 2.0, "diversity_margin": 0.3})
    assert spread.diversity > plain.diversity + 0.05, (plain.diversity, spread.diversity)


def test_model_without_generator_is_refused(tiny: LoadedModel, planted_case) -> None:
    img, sal = planted_case
    with pytest.raises(NoGenerator, match="declares no generator"):
        reconstruct(img, sal, tiny, params=FAST)


def test_bad_options_name_the_field(tiny_gen: LoadedModel, planted_case) -> None:
    img, sal = planted_case
    with pytest.raises(InvalidParams) as err:
        reconstruct(img, sal, tiny_gen, params={"window": 4})
    assert err.value.field == "params.window"
    black_box = LoadedModel(dataclasses.replace(tiny_gen.spec, gradients=False), torch.device("cpu"))
    with pytest.raises(InvalidParams) as err:
        reconstruct(img, sal, black_box, params={"outcome_weight": 1.0})
    assert err.value.field == "params.outcome_weight"


def test_declared_generator_reaches_the_spec(tiny_toml: Path, gan_file: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from saliency.models import get_spec

    toml = models_file_with_generator(tiny_toml, gan_file, tmp_path, f'generator = "{gan_file.name}"')
    monkeypatch.setenv("SALIENCY_MODELS_FILE", str(toml))
    assert get_spec("tiny").generator == tmp_path / gan_file.name


def test_train_generator_command(tmp_path: Path) -> None:
    from saliency_cli.main import main

    out = tmp_path / "g.pt"
    args = ["train-generator", "--kind", "dcgan", "--planted", "64", "--image-size", "32", "--out", str(out),
            "--epochs", "1", "--nz", "8", "--device", "cpu"]
    assert main(args + ["--width", "4"]) == 0
    state = torch.load(out, weights_only=True)
    assert state["config"] == {"image_size": 32, "nz": 8, "width": 4, "channels": 3}
    assert state["epochs"] == 1
    assert (tmp_path / "g_samples" / "epoch_001.png").exists()
    assert main(args + ["--width", "8"]) == 2  # other settings: refused, not overwritten
    # the default kind is the in-painter: a DCGAN's run without --kind is refused, not overwritten
    assert main([a for a in args if a not in ("--kind", "dcgan")] + ["--width", "4"]) == 2
    assert torch.load(out, weights_only=True)["format"] == "saliency-dcgan/1"


def test_bench_command_prints_and_writes_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """A toy-sized run of `saliency bench reconstruction` (own cache dir, tiny everything)."""
    import json

    from saliency_cli.main import main

    monkeypatch.setenv("SALIENCY_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "r.json"
    assert main(["bench", "reconstruction", "--kinds", "dcgan", "--images", "2", "--variations", "3", "--steps", "2",
                 "--fractions", "0.5", "--queries", "50", "--gan-images", "64", "--gan-epochs", "1",
                 "--gan-width", "4", "--tiny-images", "200", "--tiny-epochs", "1", "--outcome-weight", "2",
                 "--window", "5", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert [(r["hidden"], r["outcome_weight"]) for r in result["rows"]] == [(0.5, 0.0), (0.5, 2.0)]
    from saliency.data.planted import CLASSES

    labels = [CLASSES[i] for i in make_planted(2, size=32, seed=20_000, empty_rate=0.0).labels]
    for row in result["rows"]:
        assert len(row["per_image_acceptance"]) == 2
        assert row["acceptance"] == pytest.approx(sum(row["per_image_acceptance"]) / 2)
        assert row["near_copy_diversity"] > 0
        by_class = {c: [a for a, l in zip(row["per_image_acceptance"], labels) if l == c] for c in set(labels)}
        assert row["acceptance_by_class"] == {c: pytest.approx(sum(v) / len(v)) for c, v in by_class.items()}
        failed = sum(round((1 - a) * 3) for a in row["per_image_acceptance"])  # 3 variations per image
        assert sum(row["failed_as"].values()) == failed and set(row["failed_as"]) <= set(CLASSES)
    assert "accept" in capsys.readouterr().out
    # the generator is cached: a second run trains nothing
    assert sorted(p.suffix for p in (tmp_path / "cache" / "dcgan").iterdir() if p.suffix in (".pt", ".done")) == [".done", ".pt"]
