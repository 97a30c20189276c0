"""Images with ground truth for the benchmarks: planted objects, boxed photos, and photo objects
pasted onto other photos; `gather` builds the data sets a benchmark names."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from saliency.catalog.targets import resolve_target
from saliency.data.pasted import PASTED
from saliency.data.photos import PHOTOS
from saliency.data.planted import make_planted
from saliency.errors import SaliencyError
from saliency.metrics.pointing import TOLERANCE
from saliency.models.spec import LoadedModel

# Evaluation images come from seeds far from the ones the tiny model trains and tests on.
PLANTED_SEED_OFFSET = 50_000
DATASETS = ("planted", "photos", "pasted")
PASTED_MAX_RANK = 5  # a pasted object the model does not rank this high would only explain noise


@dataclass
class Case:
    dataset: str  # "planted" or "photos"
    name: str
    model: LoadedModel
    x: torch.Tensor  # (1, C, h, w) normalised, at the model's input size
    size: tuple[int, int]  # (H, W) of the image; maps are scored at this resolution
    target: int
    boxes: np.ndarray  # (k, 4) x0, y0, x1, y1 (exclusive) in the image's pixels
    tolerance: float  # pointing-game radius in the image's pixels
    distractor: bool = False


def planted_cases(model: LoadedModel, n: int, seed: int = 0) -> list[Case]:
    """n planted-object images (none empty; about 30% with a distractor), explained for their class.

    TorchRay's 15 px is meant for photos of about 224 px and more; at the tiny model's size it would
    cover half the image, so the radius is scaled to the same share of the side: 15 * side / 224.
    """
    side = model.spec.input_size[0]
    data = make_planted(n, size=side, seed=seed + PLANTED_SEED_OFFSET, distractor_rate=0.3, empty_rate=0.0)
    mean = torch.tensor(model.spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(model.spec.std).view(1, 3, 1, 1)
    x = ((torch.from_numpy(data.images) - mean) / std).to(model.device)
    return [Case("planted", f"planted-{i}", model, x[i:i + 1], (side, side), int(data.labels[i]),
                 data.boxes[i:i + 1], TOLERANCE * side / 224, bool(data.has_distractor[i]))
            for i in range(n)]


def photo_cases(model: LoadedModel, names: list[str] | None = None) -> list[Case]:
    """scikit-image's photos with their hand-drawn boxes (saliency.data.photos); 15 px radius.
    `names` picks a subset (all by default)."""
    known = [p.name for p in PHOTOS]
    unknown = sorted(set(names or []) - set(known))
    if unknown:
        raise ValueError(f"unknown photos {unknown}; known: {', '.join(known)}")
    cases = []
    for photo in PHOTOS:
        if names and photo.name not in names:
            continue
        img = photo.load()
        cases.append(Case("photos", photo.name, model, model.preprocess(img), (img.height, img.width),
                          resolve_target(model.labels, photo.target, model.name), np.array(photo.boxes),
                          TOLERANCE, distractor=bool(photo.distractor)))
    return cases


def pasted_cases(model: LoadedModel, max_rank: int = PASTED_MAX_RANK) -> tuple[list[Case], dict[str, int]]:
    """The pasted composites (saliency.data.pasted) whose object the model ranks in its top
    `max_rank`, and the rank of every one, kept or not (the report records both)."""
    cases, ranks = [], {}
    for item in PASTED:
        img = item.load()
        x = model.preprocess(img)
        target = resolve_target(model.labels, item.target, model.name)
        with torch.no_grad():
            probs = model(x)[0]
        ranks[item.name] = rank = int((probs > probs[target]).sum()) + 1
        if rank <= max_rank:
            cases.append(Case("pasted", item.name, model, x, (img.height, img.width), target,
                              np.array([item.placement()]), TOLERANCE))
    return cases, ranks


def gather(datasets: list[str], device: torch.device, planted_images: int, seed: int, photo_model: str,
           photo_names: list[str] | None = None, tiny_size: int = 32) -> tuple[list[Case], dict[str, Any]]:
    """The cases of the named data sets, and what a report should record about them. Planted
    images run on the benchmarks' tiny CNN, photos and pasted ones on `photo_model`."""
    from saliency.bench.tiny_cache import cached_tiny
    from saliency.models import load_model

    unknown = sorted(set(datasets) - set(DATASETS))
    if unknown:
        raise SaliencyError(f"unknown data sets {unknown}; known: {', '.join(DATASETS)}")
    cases: list[Case] = []
    config: dict[str, Any] = {"datasets": datasets}
    if "planted" in datasets:
        tiny, accuracy = cached_tiny(size=tiny_size, device=device)
        cases += planted_cases(tiny, planted_images, seed=seed)
        config["tiny"] = {"accuracy": accuracy, "size": tiny_size, "cache": tiny.spec.source}
    if {"photos", "pasted"} & set(datasets):
        model = load_model(photo_model, device=device)
        config["photo_model"] = photo_model
        if "photos" in datasets:
            try:
                cases += photo_cases(model, photo_names)
            except ValueError as exc:
                raise SaliencyError(f"photo names: {exc}") from None
        if "pasted" in datasets:
            pasted, config["pasted_ranks"] = pasted_cases(model)
            cases += pasted
    return cases, config
