"""`saliency bench localisation`: its plan, its scoring, its cache and its command line, kept small."""
import json

import numpy as np
import pytest
import torch

from saliency.bench import tiny_cache
from saliency.bench.cases import photo_cases, planted_cases
from saliency.bench.localisation import aggregate, jsonable, run_all, table
from saliency.bench.runs import Run, occlusion_params, oise_variant, plan
from saliency.data.photos import PHOTOS
from saliency.errors import SaliencyError
from saliency.methods import METHODS


def test_plan_spends_the_budget_of_sampling_methods_and_runs_the_others_once():
    runs = plan(None, [250, 1000], ["default", "authors", "chains=10"], seed=3, size=(32, 32), gradients=True)
    by = {(r.label, r.budget): r for r in runs}
    assert by[("oise", 250)].params == {"queries": 250, "seed": 3}
    assert by[("oise[authors]", 1000)].params == {"queries": 1000, "seed": 3, "chains": 1, "weighting": "none"}
    assert by[("oise[chains=10]", 250)].params["chains"] == 10
    assert by[("rise", 1000)].params == {"queries": 1000, "seed": 3}
    once = [r for r in runs if r.budget is None]  # the baselines without a query option, if registered
    assert all("queries" not in METHODS[r.method].options.model_fields for r in once)
    assert {r.method for r in runs} == set(METHODS)
    black_box = plan(None, [250], ["default"], seed=0, size=(32, 32), gradients=False)
    assert {r.method for r in black_box} == {m for m, info in METHODS.items() if info.needs == "black-box"}
    with pytest.raises(SaliencyError, match="unknown OISE variant"):
        oise_variant("fast")
    assert oise_variant("chains=16+refine_grid=16") == {"chains": 16, "refine_grid": 16}
    with pytest.raises(SaliencyError, match="refine_grid"):
        oise_variant("refine_grid=1")
    with pytest.raises(SaliencyError, match="unknown method"):
        plan(["nope"], [250], ["default"], 0, (32, 32), True)


@pytest.mark.parametrize("budget", [50, 250, 1000])
def test_occlusion_stride_fits_the_budget(budget):
    if "occlusion" not in METHODS:
        pytest.skip("occlusion is not registered")
    from saliency.methods.occlusion import windows

    p = occlusion_params(budget, (224, 224))
    spent = 1 + windows(224, p["window"], p["stride"]) ** 2
    assert spent <= budget
    if p["stride"] > 1:  # the next smaller stride would not fit
        assert 1 + windows(224, p["window"], p["stride"] - 1) ** 2 > budget


def test_photos_boxes_lie_inside_their_photos_and_name_imagenet_classes():
    pytest.importorskip("skimage")
    from saliency.models import get_spec

    labels = get_spec("efficientnet_lite0").labels()
    for photo in PHOTOS:
        img = photo.load()
        assert photo.target in labels, photo.name
        for x0, y0, x1, y1 in photo.boxes:
            assert 0 <= x0 < x1 <= img.width and 0 <= y0 < y1 <= img.height, photo.name


def test_photo_subset_is_checked_before_any_photo_loads():
    with pytest.raises(ValueError, match="unknown photos \\['lynx'\\]; known: chelsea"):
        photo_cases(None, ["chelsea", "lynx"])  # no model needed to refuse


def test_scores_of_a_map_on_planted_images(tiny):
    cases = planted_cases(tiny, 3, seed=1)
    runs = [Run("rise", "rise", 100, {"queries": 100, "grid": 4, "seed": 0}),
            Run("bad", "oise", 10, {"queries": 10, "no_such_option": 1})]
    results = run_all(cases, lambda case: runs)
    good = [r for r in results if r.label == "rise"]
    assert len(good) == 3 and all(r.error is None and r.queries == 100 for r in good)
    for r in good:
        assert r.pointing in (0.0, 1.0) and 0 <= r.energy <= 1 and 0 <= r.deletion <= 1 and 0 <= r.insertion <= 1
    assert all(r.error and "no_such_option" in r.error for r in results if r.label == "bad")
    rows = {row["label"]: row for row in aggregate(results)}
    assert rows["rise"]["images"] == 3 and rows["rise"]["pointing"] == np.mean([r.pointing for r in good])
    assert rows["bad"]["images"] == 0 and rows["bad"]["failed"] == 3
    text = table(list(rows.values()))
    assert "== planted ==" in text and "failed" in text
    assert json.loads(json.dumps(jsonable(list(rows.values()))))[1]["pointing"] is None  # NaN -> null


def test_the_tiny_model_is_trained_once_per_arguments(tmp_path, monkeypatch):
    monkeypatch.setenv("SALIENCY_CACHE_DIR", str(tmp_path))
    model, accuracy = tiny_cache.cached_tiny(size=16, n=64, epochs=1, seed=2)
    assert model(torch.zeros(1, 3, 16, 16)).shape == (1, 4) and 0 <= accuracy <= 1
    monkeypatch.setattr(tiny_cache, "train_tiny", lambda **kw: pytest.fail("trained again"))
    again, same = tiny_cache.cached_tiny(size=16, n=64, epochs=1, seed=2)
    assert same == accuracy
    assert torch.equal(again(torch.ones(1, 3, 16, 16)), model(torch.ones(1, 3, 16, 16)))


def test_cli_quick_run_writes_json_and_plot(tiny, tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    from saliency_cli.main import main

    monkeypatch.setattr(tiny_cache, "cached_tiny", lambda **kw: (tiny, 0.99))
    out = tmp_path / "bench.json"
    assert main(["bench", "localisation", "--quick", "--images", "2", "--methods", "oise,rise", "--budgets", "100",
                 "--oise-variants", "default,chains=5", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "oise[chains=5]" in printed and "rise" in printed
    report = json.loads(out.read_text())
    assert report["config"]["budgets"] == [100] and report["config"]["datasets"] == ["planted"]
    assert {r["label"] for r in report["rows"]} == {"oise", "oise[chains=5]", "rise"}
    assert len(report["per_image"]) == 6 and all(r["queries"] == 100 for r in report["per_image"])
    assert (tmp_path / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["bench", "localisation", "--quick", "--budgets", "ten"]) == 2
