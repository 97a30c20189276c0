"""How sure a sampled map is, and stopping when it is sure: the measure on constructed groups,
then OISE and RISE on the tiny planted model. Easy: one planted object. Hard: the same image with
copies of the object in its four corners; the evidence is redundant, hiding one copy barely moves
the score, so a map needs many more queries to rise above its noise."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from saliency.catalog.options import OiseParams, RiseParams
from saliency.data.planted import make_planted
from saliency.methods.oise import oise
from saliency.methods.rise import rise
from saliency.methods.uncertainty import splits, stability, standard_error

identity = lambda s: s  # noqa: E731


def Rise(**options) -> RiseParams:  # noqa: N802
    """RISE with larger forward batches: the tiny model's calls, not its work, are what cost here."""
    return RiseParams(**{"batch_size": 250, **options})


def test_identical_groups_are_perfectly_stable_and_have_no_spread():
    signal = torch.rand(1, 1, 6, 6)
    sums = signal.repeat(1, 8, 1, 1)
    counts = torch.full((8,), 10.0)
    assert float(stability(sums, counts, identity)[0]) == pytest.approx(1.0)
    assert torch.allclose(standard_error(sums, counts), torch.zeros(1, 6, 6), atol=1e-6)


def test_pure_noise_groups_have_stability_near_zero_and_the_spread_of_their_mean():
    gen = torch.Generator().manual_seed(0)
    sums = torch.randn(1, 8, 64, 64, generator=gen)
    counts = torch.ones(8)
    assert float(stability(sums, counts, identity)[0]) < 0.05
    # each group's estimate of the total is 8 x its sum, of sd 8; their mean's standard error is 8/sqrt(8)
    assert float(standard_error(sums, counts).mean()) == pytest.approx(8 / 8 ** 0.5, rel=0.05)


def test_empty_groups_are_left_out_and_one_group_says_nothing():
    sums = torch.rand(2, 8, 4, 4)
    counts = torch.tensor([3.0, 0, 0, 0, 0, 0, 0, 0])
    assert torch.isnan(stability(sums, counts, identity)).all()
    assert torch.isnan(standard_error(sums, counts)).all()


def test_splits_cover_every_balanced_half_once():
    assert len(splits(8)) == 35 and len(set(splits(8))) == 35
    assert splits(2) == [(0,)]
    assert len(splits(32)) == 35  # drawn, with a fixed seed
    assert splits(32) == splits(32)


@pytest.fixture(scope="module")
def planted(tiny_toml):
    from saliency.models.config import load_file
    from saliency.models.tiny import MEAN, STD

    net = load_file(tiny_toml.parent / "tiny.pt2")  # an exported program: already in eval mode

    def model(x: torch.Tensor) -> torch.Tensor:
        return net(x).softmax(1)

    data = make_planted(1, size=32, seed=50_123, distractor_rate=0.0)
    img = data.images[0]
    x0, y0, x1, y1 = data.boxes[0]
    patch = img[:, y0:y1, x0:x1].copy()
    h, w = patch.shape[1:]
    copies = img.copy()
    for y, x in [(1, 1), (1, 31 - w), (31 - h, 1), (31 - h, 31 - w)]:
        copies[:, y:y + h, x:x + w] = patch
    x = (torch.from_numpy(np.stack([img, copies])) - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    label = int(data.labels[0])
    with torch.inference_mode():
        assert model(x).argmax(1).tolist() == [label, label]
    return model, x[:1], x[1:], label


@pytest.mark.parametrize("method, params", [(oise, OiseParams), (rise, Rise)])
def test_stability_rises_with_queries(planted, method, params):
    model, x, _, easy = planted
    values = [float(method(model, x, torch.tensor([easy]), params(queries=q, seed=1)).stability[0])
              for q in (200, 800, 3200)]
    assert values == sorted(values) and values[0] < values[-1] and 0 < values[-1] <= 1


@pytest.mark.parametrize("method, params", [(oise, OiseParams), (rise, Rise)])
def test_adaptive_stops_early_on_an_easy_image_and_spends_more_on_a_hard_one(planted, method, params):
    model, easy, hard, label = planted
    rule = dict(target_stability=0.8, max_queries=3000, round_queries=250, seed=1)
    quick = method(model, easy, torch.tensor([label]), params(**rule))
    slow = method(model, hard, torch.tensor([label]), params(**rule))
    assert quick.stopped == "target" and quick.queries <= 1500 and float(quick.stability[0]) >= 0.8
    assert slow.stopped == "cap" and slow.queries >= 3000 and float(slow.stability[0]) < 0.8


@pytest.mark.parametrize("method, params", [(oise, OiseParams), (rise, Rise)])
def test_same_seed_same_map_and_same_queries(planted, method, params):
    model, x, _, easy = planted
    rule = dict(target_stability=0.9, max_queries=3000, round_queries=250)
    a = method(model, x, torch.tensor([easy]), params(**rule, seed=5))
    b = method(model, x, torch.tensor([easy]), params(**rule, seed=5))
    assert a.queries == b.queries and torch.equal(a.maps, b.maps) and torch.equal(a.stability, b.stability)
    assert torch.equal(a.uncertainty, b.uncertainty)


@pytest.mark.parametrize("method, params", [(oise, OiseParams), (rise, Rise)])
def test_an_adaptive_run_draws_the_map_of_the_fixed_budget_it_stopped_at(planted, method, params):
    model, x, _, easy = planted
    adaptive = method(model, x, torch.tensor([easy]),
                      params(target_stability=0.8, max_queries=4000, round_queries=250, batch_size=50, seed=2))
    fixed = method(model, x, torch.tensor([easy]), params(queries=adaptive.queries, batch_size=50, seed=2))
    assert torch.allclose(adaptive.maps, fixed.maps, atol=1e-6)
    assert torch.allclose(adaptive.stability, fixed.stability)


def test_groups_never_change_the_map(planted):
    model, x, _, easy = planted
    a = oise(model, x, torch.tensor([easy]), OiseParams(queries=600, chains=60, groups=4, seed=1))
    b = oise(model, x, torch.tensor([easy]), OiseParams(queries=600, chains=60, groups=16, seed=1))
    assert torch.allclose(a.maps, b.maps, atol=1e-5)


def test_one_chain_is_grouped_by_blocks_of_steps(planted):
    model, x, _, easy = planted
    out = oise(model, x, torch.tensor([easy]), OiseParams.authors(queries=160, seed=1))
    assert 0 <= float(out.stability[0]) <= 1 and torch.isfinite(out.uncertainty).all()


@pytest.mark.parametrize("method", ["oise", "rise"])
def test_explanation_has_stability_and_an_uncertainty_map_of_the_image_size(tiny, method):
    from saliency.explanation import explain

    img = Image.fromarray((make_planted(1, size=32, seed=7).images[0].transpose(1, 2, 0) * 255).astype(np.uint8))
    img = img.resize((45, 37))
    out = explain(img, model=tiny, method=method, params={"queries": 300, "seed": 0})
    assert out.uncertainty is not None and out.uncertainty.shape == (37, 45) == out.saliency.shape
    assert out.uncertainty.dtype == np.float32 and (out.uncertainty >= 0).all()
    assert 0 <= out.stability <= 1 and out.stopped == "budget"
    summary = out.summary()
    assert summary["stability"] == out.stability and "uncertainty" not in summary


def test_methods_that_do_not_sample_report_no_stability(tiny):
    from saliency.explanation import explain

    img = Image.new("RGB", (32, 32), (120, 60, 30))
    out = explain(img, model=tiny, method="occlusion")
    assert out.stability is None and out.uncertainty is None and "stability" not in out.summary()
