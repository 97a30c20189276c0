"""Photo objects pasted onto other photos (saliency.data.pasted) and the benchmarks' case builder
(saliency.bench.cases.gather): the box is where the object is, and a case is the same image on
every run."""
import numpy as np
import pytest
import torch
from PIL import Image

from saliency.bench.cases import PASTED_MAX_RANK, gather, pasted_cases
from saliency.data.pasted import PASTED, SCALES, SIDE
from saliency.errors import SaliencyError

pytest.importorskip("skimage.data")


def test_the_box_holds_the_pasted_object_and_nothing_else_moved() -> None:
    assert len({p.name for p in PASTED}) == len(PASTED)
    for item in PASTED[::7]:  # a spread of objects and backgrounds; each load is a few ms
        img = item.load()
        assert img.size == (SIDE, SIDE) and img.mode == "RGB"
        x0, y0, x1, y1 = item.placement()
        assert 0 <= x0 < x1 <= SIDE and 0 <= y0 < y1 <= SIDE
        assert SCALES[0] * SIDE - 1 <= max(x1 - x0, y1 - y0) <= SCALES[1] * SIDE + 1, item.name
        crop = item.photo.load().crop(item.photo.boxes[0]).resize((x1 - x0, y1 - y0), Image.Resampling.LANCZOS)
        pixels = np.asarray(img)
        assert np.array_equal(pixels[y0:y1, x0:x1], np.asarray(crop)), item.name
        assert np.array_equal(np.asarray(item.load()), pixels), f"{item.name} differs between loads"
        assert item.background != item.obj


def test_gather_refuses_an_unknown_data_set_before_loading_anything() -> None:
    with pytest.raises(SaliencyError, match="unknown data sets \\['pets'\\]; known: planted, photos, pasted"):
        gather(["photos", "pets"], torch.device("cpu"), 1, 0, "efficientnet_lite0")


def test_pasted_cases_keep_what_the_photo_model_sees(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALIENCY_RUNTIME", "torch")  # exporting it would take half a minute
    from saliency.models import load_model

    cases, ranks = pasted_cases(load_model("efficientnet_lite0", device="cpu"))
    assert set(ranks) == {p.name for p in PASTED}
    assert {c.name for c in cases} == {name for name, rank in ranks.items() if rank <= PASTED_MAX_RANK}
    assert len(cases) >= len(PASTED) // 3  # most objects are recognised on most backgrounds
    by_name = {p.name: p for p in PASTED}
    for case in cases:
        assert case.dataset == "pasted" and case.size == (SIDE, SIDE)
        assert case.boxes.tolist() == [list(by_name[case.name].placement())]
        assert case.model.labels[case.target] == by_name[case.name].target
