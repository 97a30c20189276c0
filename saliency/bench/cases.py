"""Images with ground truth for the localisation benchmark: planted objects and boxed photos."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from saliency.data.planted import make_planted
from saliency.data.photos import PHOTOS
from saliency.metrics.pointing import TOLERANCE
from saliency.catalog.targets import resolve_target
from saliency.models.spec import LoadedModel

# Evaluation images come from seeds far from the ones the tiny model trains and tests on.
PLANTED_SEED_OFFSET = 50_000


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
