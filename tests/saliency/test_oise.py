"""OISE: the authors' update rules on hand-computed cases, and the batched implementation's contract."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from saliency.errors import Cancelled, InvalidParams
from saliency.methods import get_method
from saliency.methods.oise import OiseParams, oise, refine, regularise, resample


def constant(p: float, classes: int = 3):
    """A black box that answers p for class 0 whatever it is shown."""
    def model(x: torch.Tensor) -> torch.Tensor:
        out = torch.full((x.shape[0], classes), (1 - p) / (classes - 1))
        out[:, 0] = p
        return out
    return model


def test_resample_and_regulariser_match_hand_computation():
    # previous mask: (0,0) on with a fractional value, (0,1) off, (1,0) on, (1,1) off
    prev = torch.tensor([[[1.02, 0.0], [1.0, 0.0]]])
    p, p_prev = torch.tensor([0.6]), torch.tensor([0.1])
    u = torch.tensor([[[0.5, 0.3], [0.3, 0.7]]])
    new = resample(prev, p, u)
    # on stays on iff u > 1 - p = 0.4; off turns on iff u > p = 0.6
    assert new.tolist() == [[[1.0, 0.0], [0.0, 1.0]]]
    out = regularise(new, prev, p - p_prev, lr=0.02)
    # dp = 0.5, step = 0.01. (0,0) stayed on but fell from 1.02: x1.01. (1,1) rose: x0.99.
    # (1,0) fell to 0 and stays 0; (0,1) unchanged.
    assert torch.allclose(out[0], torch.tensor([[1.01, 0.0], [0.0, 0.99]]))


def test_regulariser_ignores_the_sign_of_dp():
    new, prev = torch.tensor([[[1.0, 0.0]]]), torch.tensor([[[0.0, 0.0]]])
    up = regularise(new, prev, torch.tensor([0.3]), 0.1)
    down = regularise(new, prev, torch.tensor([-0.3]), 0.1)
    assert torch.equal(up, down)
    assert torch.allclose(up, torch.tensor([[[0.97, 0.0]]]))


def test_zero_probability_flips_every_cell_so_the_sum_is_flat():
    # p = 0: every on cell turns off and every off cell turns on, and dp = 0 means no scaling.
    # With one pixel per cell there is no shift, and M + (1 - M) upsamples to exactly 1, so after
    # an even number of steps each chain has accumulated steps / 2 everywhere.
    x = torch.randn(1, 3, 6, 6)
    params = OiseParams(grid=6, chains=3, queries=3 * 8, postprocess="none", weighting="none")
    out = oise(constant(0.0), x, torch.tensor([0]), params)
    assert out.queries == 24
    assert torch.allclose(out.maps, torch.full((1, 6, 6), 3 * 8 / 2))


def test_certain_class_freezes_the_chain_and_score_weighting_is_linear():
    # p = 1: on cells stay on, off cells stay off; the score-weighted sum equals the plain one.
    x = torch.randn(1, 3, 6, 6)
    base = dict(grid=6, chains=2, queries=10, postprocess="none")
    plain = oise(constant(1.0), x, torch.tensor([0]), OiseParams(**base, weighting="none")).maps
    scored = oise(constant(1.0), x, torch.tensor([0]), OiseParams(**base, weighting="score")).maps
    assert torch.allclose(plain, scored)
    half = oise(constant(0.5), x, torch.tensor([0]), OiseParams(**base, weighting="score")).maps
    assert half.sum() > 0


def test_authors_postprocessing():
    x = torch.randn(1, 3, 8, 8)
    raw = oise(constant(0.7), x, torch.tensor([0]), OiseParams(grid=4, chains=4, queries=40, postprocess="none")).maps
    done = oise(constant(0.7), x, torch.tensor([0]), OiseParams(grid=4, chains=4, queries=40)).maps
    expected = (raw - 0.96 * raw.mean()).clamp_min(0)
    assert torch.allclose(done, expected / expected.max(), atol=1e-6)


def test_same_seed_same_map_other_seed_other_map():
    x = torch.randn(2, 3, 16, 16)
    tgt = torch.tensor([0, 1])
    model = lambda z: z.mean(dim=(2, 3)).softmax(1)  # noqa: E731  (depends on the mask)
    a = oise(model, x, tgt, OiseParams(grid=4, chains=5, queries=50, seed=3)).maps
    b = oise(model, x, tgt, OiseParams(grid=4, chains=5, queries=50, seed=3)).maps
    c = oise(model, x, tgt, OiseParams(grid=4, chains=5, queries=50, seed=4)).maps
    assert a.shape == (2, 16, 16)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_queries_round_up_to_whole_steps_and_forward_chunks_do_not_change_the_map():
    x = torch.randn(1, 3, 16, 16)
    model = lambda z: z.mean(dim=(2, 3)).softmax(1)  # noqa: E731
    whole = oise(model, x, torch.tensor([2]), OiseParams(grid=4, chains=8, queries=50))
    chunked = oise(model, x, torch.tensor([2]), OiseParams(grid=4, chains=8, queries=50, batch_size=3))
    assert whole.queries == math.ceil(50 / 8) * 8
    assert torch.allclose(whole.maps, chunked.maps, atol=1e-6)


def test_adaptive_stop_spends_fewer_queries_and_progress_reaches_one():
    # a class score that rises with the brightness of the left half: a map that settles quickly
    x = torch.zeros(1, 3, 8, 8)
    x[..., :4] = 1.0
    model = lambda z: torch.stack([z[:, :, :, :4].mean(dim=(1, 2, 3)), torch.zeros(len(z))], 1).sigmoid()  # noqa: E731
    seen: list[float] = []
    out = oise(model, x, torch.tensor([0]),
               OiseParams(grid=4, chains=16, target_stability=0.9, max_queries=4000, round_queries=64), seen.append)
    assert out.queries < 4000 and out.stopped == "target" and float(out.stability[0]) >= 0.9
    assert seen == sorted(seen) and 0 < seen[0] and seen[-1] == 1.0
    full: list[float] = []
    fixed = oise(constant(1.0), x, torch.tensor([0]), OiseParams(grid=4, chains=4, queries=40), full.append)
    assert full[-1] == 1.0 and len(full) == 10 and fixed.stopped == "budget"


def test_progress_moves_per_forward_chunk():
    seen: list[float] = []
    oise(constant(0.5), torch.randn(1, 3, 8, 8), torch.tensor([0]),
         OiseParams(grid=4, chains=8, queries=16, batch_size=2), seen.append)
    assert seen == [i / 8 for i in range(1, 9)]  # 2 steps x 4 chunks of 2 chains


def test_default_options_on_a_cpu_report_progress_every_16_images():
    """Progress, and so the worker's cancel check, comes once per forward pass. With the default
    500 chains a GPU pass holds 256 images, which on a CPU is 13 to 21 s of EfficientNet-Lite0
    (docs/benchmarks.md, Responsiveness); a CPU pass holds 16 (about a second), so progress moves
    and a cancel takes effect within 2 s there."""
    from saliency.catalog.options import oise_chunk

    shown: list[int] = []
    seen: list[tuple[int, float]] = []

    def model(x: torch.Tensor) -> torch.Tensor:
        shown.append(x.shape[0])
        return constant(0.5)(x)
    params = OiseParams(queries=1000)  # the default 500 chains: two steps
    oise(model, torch.randn(1, 3, 8, 8), torch.tensor([0]), params, lambda f: seen.append((len(shown), f)))
    assert oise_chunk("cpu") == 16 and oise_chunk("cuda") == 256
    assert max(shown) == 16 and sum(shown) == 1000
    assert len(seen) == len(shown)  # one progress call after every forward pass
    assert [f for _, f in seen] == sorted(f for _, f in seen) and seen[-1][1] == 1.0


def test_cancel_from_the_progress_callback_stops_the_run():
    calls = []

    def stop(fraction: float) -> None:
        calls.append(fraction)
        if len(calls) == 3:
            raise Cancelled("stop")
    with pytest.raises(Cancelled):
        oise(constant(0.5), torch.randn(1, 3, 8, 8), torch.tensor([0]),
             OiseParams(grid=4, chains=2, queries=1000), stop)
    assert len(calls) == 3


@pytest.mark.parametrize("raw, field", [
    ({"queries": 0}, "params.queries"),
    ({"grid": "eight"}, "params.grid"),
    ({"baseline": "noise"}, "params.baseline"),
    ({"p_init": 1.5}, "params.p_init"),
    ({"chain": 4}, "params.chain"),
    ({"target_stability": 1.0}, "params.target_stability"),  # the stopping rule's options
    ({"groups": 3}, "params.groups"),
    ({"refine_grid": 1}, "params.refine_grid"),
    ({"refine_share": 1.0}, "params.refine_share"),
])
def test_bad_options_name_the_field(raw, field):
    with pytest.raises(InvalidParams) as err:
        get_method("oise").parse_params(raw)
    assert err.value.field == field


def test_authors_variant_preset():
    p = OiseParams.authors()
    assert (p.chains, p.queries, p.grid, p.p_init, p.lr, p.weighting, p.postprocess, p.mean_offset) == \
        (1, 5000, 8, 0.3, 0.02, "none", "authors", 0.96)


def test_a_budget_below_the_chain_count_is_not_rounded_up():
    out = oise(constant(0.5), torch.randn(1, 3, 8, 8), torch.tensor([0]), OiseParams(grid=4, chains=50, queries=10))
    assert out.queries == 10


REFERENCE = Path(__file__).parent / "data" / "oise_dc2e42f.npz"
REFERENCE_CASES = {  # the options data/oise_dc2e42f.npz was made with, by OISE at dc2e42f
    "score": dict(grid=4, chains=7, queries=60, seed=5),
    "none_blur": dict(grid=5, chains=6, queries=40, seed=2, weighting="none", baseline="blur"),
    "tv_raw": dict(grid=4, chains=5, queries=30, seed=9, tv_weight=0.5, postprocess="none"),
}


@pytest.mark.parametrize("case", sorted(REFERENCE_CASES))
@pytest.mark.parametrize("chunk", [None, 1, 5, 9])
def test_maps_equal_those_of_the_per_chain_implementation(case, chunk):
    """The memory rework (per-image sums, masks made per forward chunk) keeps every map: the
    reference holds maps of the implementation that kept chains x H x W (commit dc2e42f), for two
    images whose chains straddle chunk borders."""
    ref = np.load(REFERENCE)
    model = lambda z: (z.mean(dim=(2, 3)) * 3).softmax(1)  # noqa: E731  (depends on the mask)
    out = oise(model, torch.from_numpy(ref["x"]), torch.from_numpy(ref["target"]),
               OiseParams(**REFERENCE_CASES[case], batch_size=chunk))
    assert out.queries == int(ref[f"{case}_queries"])
    np.testing.assert_allclose(out.maps.numpy(), ref[case], rtol=1e-5, atol=1e-5)


def test_refine_carries_each_cell_to_the_cells_it_covers():
    coarse = torch.tensor([[[1.0, 0.0], [0.5, 1.02]]])
    fine = torch.tensor([[[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0],
                          [0.5, 0.5, 1.02, 1.02], [0.5, 0.5, 1.02, 1.02]]])
    assert torch.equal(refine(coarse, 4), fine)


def test_refined_chains_query_finer_masks_in_the_late_steps_within_the_budget():
    seen: list[torch.Tensor] = []

    def recorder(z: torch.Tensor) -> torch.Tensor:  # the input is the mask itself: image 1, baseline 0
        seen.append(z[:, 0].clone())
        return torch.stack([z.mean(dim=(1, 2, 3)), torch.zeros(len(z))], 1).softmax(1)

    def roughness(masks: torch.Tensor) -> float:  # mean step between neighbouring pixels
        return float(masks.diff(dim=-1).abs().mean() + masks.diff(dim=-2).abs().mean())

    x = torch.ones(1, 3, 32, 32)
    params = dict(grid=4, chains=10, queries=40, batch_size=10, seed=1)  # 4 steps, one forward pass each
    plain = oise(recorder, x, torch.tensor([0]), OiseParams(**params))
    coarse = [roughness(m) for m in seen]
    seen.clear()
    refined = oise(recorder, x, torch.tensor([0]), OiseParams(**params, refine_grid=16, refine_share=0.5))
    fine = [roughness(m) for m in seen]
    assert plain.queries == refined.queries == 40
    assert fine[:2] == coarse[:2]  # the same draws until the switch
    # the first refined step queries the carried coarse state at finer cells (sharper edges only);
    # once the chains resample cell by cell, their masks vary at the fine scale
    assert fine[2] > coarse[2] and fine[3] > 2 * max(coarse), (coarse, fine)
