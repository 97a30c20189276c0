"""The metrics of METHOD.md "How saliency is judged", on cases worked out by hand."""
import numpy as np
import pytest
import torch

from saliency.data.planted import make_planted
from saliency.errors import InvalidParams
from saliency.metrics import (deletion, energy_box, energy_pointing_game, insertion, localisation_error,
                              parse_metrics, pointing_game)
from saliency.metrics.sanity import randomisation_check, spearman

H = W = 16
REGION = (slice(4, 12), slice(4, 12))  # 64 of the 256 pixels


def visible_fraction_model(original: torch.Tensor):
    """P(class 0) = share of REGION's pixels still equal to the original image."""
    def model(x: torch.Tensor) -> torch.Tensor:
        same = (x - original).abs().amax(dim=1) < 1e-6  # (B, H, W)
        p = same[:, REGION[0], REGION[1]].float().mean(dim=(1, 2))
        return torch.stack([p, 1 - p], dim=1)
    return model


@pytest.fixture
def case():
    image = torch.randn(1, 3, H, W, generator=torch.Generator().manual_seed(0))
    perfect = torch.zeros(H, W)
    perfect[REGION] = 1.0
    return visible_fraction_model(image), image, perfect


def test_deletion_auc_by_hand(case):
    model, image, perfect = case
    # step = ceil(256 / 224) = 2 pixels, n = 128 steps. The perfect map deletes the 64 region pixels
    # in the first 32 steps: the score falls linearly 1 -> 0, area 32 / 2 = 16 steps, AUC 16 / 128.
    best = deletion(model, image, perfect, target=0)
    assert best.queries == 129 and best.curve.shape == (129,)
    np.testing.assert_allclose(best.curve[:33], 1 - np.arange(33) * 2 / 64)
    assert (best.curve[33:] == 0).all()
    assert best.auc == pytest.approx(16 / 128)
    # The reversed map deletes the region last: 96 steps at 1, then the same ramp: (96 + 16) / 128.
    worst = deletion(model, image, -perfect, target=0)
    assert worst.auc == pytest.approx(112 / 128)


def test_insertion_auc_by_hand(case):
    model, image, perfect = case
    best = insertion(model, image, perfect, target=0)  # starts from the blur: nothing visible
    assert best.curve[0] == 0 and best.curve[-1] == 1
    assert best.auc == pytest.approx(112 / 128)
    assert insertion(model, image, -perfect, target=0).auc == pytest.approx(16 / 128)


def test_causal_curve_options(case):
    model, image, perfect = case
    a = deletion(model, image, perfect, target=0, batch_size=7)
    b = deletion(model, image, perfect, target=0, batch_size=500)
    np.testing.assert_array_equal(a.curve, b.curve)
    coarse = deletion(model, image, perfect, target=0, step=48)  # n = ceil(256 / 48) = 6
    assert coarse.queries == 7 and coarse.curve[-1] == 0
    with pytest.raises(ValueError, match="model's input"):
        deletion(model, image, torch.zeros(8, 8), target=0)


def test_pointing_game_tolerance_is_strict_and_euclidean():
    sal = np.zeros((64, 64), dtype=np.float32)
    sal[10, 10] = 1.0  # the peak: x = 10, y = 10
    def gt_at(dx: int, dy: int) -> np.ndarray:
        mask = np.zeros((64, 64), dtype=bool)
        mask[10 + dy, 10 + dx] = True
        return mask
    assert pointing_game(sal, gt_at(14, 5))  # sqrt(221) = 14.87 px
    assert not pointing_game(sal, gt_at(12, 9))  # exactly 15 px: strict
    assert not pointing_game(sal, gt_at(15, 2))  # sqrt(229) = 15.13 px
    assert pointing_game(sal, [(24, 15, 25, 16)])  # the 14.87 px pixel as a box
    assert pointing_game(sal, [(40, 40, 50, 50), (5, 5, 8, 8)])  # any box counts
    assert not pointing_game(sal, gt_at(3, 3), tolerance=4)  # sqrt(18) = 4.24
    assert pointing_game(sal, gt_at(3, 3), tolerance=4.3)


def test_energy_pointing_game_by_hand():
    sal = np.array([[4, 0, 0, 0],
                    [0, 2, 1, 0],
                    [0, 1, -5, 0],
                    [0, 0, 0, 2]], dtype=np.float32)
    # box over the centre 2 x 2: 2 + 1 + 1 (the -5 does not count) of 4 + 2 + 1 + 1 + 2 = 10
    assert energy_pointing_game(sal, [(1, 1, 3, 3)]) == pytest.approx(0.4)
    mask = np.zeros((4, 4), dtype=bool)
    mask[0, 0] = True
    assert energy_pointing_game(sal, mask) == pytest.approx(0.4)
    assert energy_pointing_game(np.zeros((4, 4)), mask) == 0.0


def test_localisation_error_by_hand():
    sal = np.zeros((10, 10))
    sal[2:6, 2:6] = 1.0  # a 4 x 4 block of equal mass; ties go row by row
    truth = [(2, 2, 6, 6)]
    # half the mass = the block's first two rows -> box (2, 2, 6, 4), IoU 8 / 16 = 0.5: not an error
    half = localisation_error(sal, truth, alpha=0.5)
    assert half.box == (2, 2, 6, 4) and half.iou == pytest.approx(0.5) and not half.error
    quarter = localisation_error(sal, truth, alpha=0.25)  # one row: IoU 0.25
    assert quarter.box == (2, 2, 6, 3) and quarter.error
    assert localisation_error(sal, truth, alpha=1.0).iou == pytest.approx(1.0)
    assert localisation_error(sal, [(7, 7, 10, 10)], alpha=1.0).error
    assert not localisation_error(sal, [(7, 7, 10, 10), (2, 2, 6, 6)], alpha=1.0).error  # best box
    assert energy_box(np.zeros((5, 7))) == (0, 0, 7, 5)  # no mass: the whole image


def test_metric_names_parse():
    assert parse_metrics("deletion, insertion") == ["deletion", "insertion"]
    assert parse_metrics('["insertion", "insertion"]') == ["insertion"]
    assert parse_metrics(None) == [] and parse_metrics("") == []
    with pytest.raises(InvalidParams) as err:
        parse_metrics("deletion,pointing")
    assert err.value.field == "metrics" and "pointing" in str(err.value)
    with pytest.raises(InvalidParams):
        parse_metrics('["deletion"')


def _planted_input(tiny, seed: int = 3):
    data = make_planted(1, seed=seed, distractor_rate=0.0)
    mean = torch.tensor(tiny.spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(tiny.spec.std).view(1, 3, 1, 1)
    return (torch.from_numpy(data.images) - mean) / std, int(data.labels[0]), data


def test_deletion_prefers_the_object_on_the_tiny_model(tiny):
    x, label, data = _planted_input(tiny)
    truth = torch.from_numpy(data.masks[0]).float()
    good, bad = deletion(tiny, x, truth, label), deletion(tiny, x, -truth, label)
    assert good.queries == 206  # step ceil(1024 / 224) = 5, n = 205
    assert good.auc < bad.auc
    assert insertion(tiny, x, truth, label).auc > insertion(tiny, x, -truth, label).auc


def test_randomising_the_model_changes_the_oise_map(tiny):
    x, label, _ = _planted_input(tiny)
    params = {"grid": 4, "chains": 20, "queries": 200, "seed": 1}
    before = {k: v.clone() for k, v in tiny.module.state_dict().items()}
    from saliency.methods import get_method
    spec = get_method("oise")
    run = lambda: spec.fn(tiny, x, torch.tensor([label]), spec.parse_params(params)).maps[0].numpy()
    first, again = run(), run()
    same = spearman(first, again)
    assert same == pytest.approx(1.0)
    full = randomisation_check(tiny, x, label, "oise", params, reference=first)
    assert full.spearman < same - 0.3 and full.passed
    cascade = randomisation_check(tiny, x, label, "oise", params, mode="cascade")
    assert [len(s.layers) for s in cascade.stages] == [1, 2, 3, 4]
    assert cascade.stages[0].layers == ["head"]
    # the cached model is untouched
    for k, v in tiny.module.state_dict().items():
        assert torch.equal(v, before[k]), k
    np.testing.assert_array_equal(run(), first)


def test_cli_explain_writes_metrics_into_result_json(tiny_toml, tmp_path, monkeypatch, capsys):
    import json

    from PIL import Image

    from saliency_cli.main import main

    monkeypatch.setenv("SALIENCY_MODELS_FILE", str(tiny_toml))
    data = make_planted(1, size=32, seed=4)
    png = tmp_path / "p.png"
    Image.fromarray((data.images[0].transpose(1, 2, 0) * 255).astype(np.uint8)).save(png)
    out = tmp_path / "out"
    assert main(["explain", str(png), "--model", "tiny", "--queries", "40", "--params", '{"grid": 4, "chains": 20}',
                 "--metrics", "deletion,insertion", "--out", str(out)]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["queries"] == 40
    assert {k: v["queries"] for k, v in result["metrics"].items()} == {"deletion": 206, "insertion": 206}
    assert "deletion AUC" in capsys.readouterr().out
    assert main(["explain", str(png), "--model", "tiny", "--metrics", "deletion,iou", "--out", str(out)]) == 2
    assert "unknown metric 'iou'" in capsys.readouterr().err
