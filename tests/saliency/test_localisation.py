"""Does the map point at what the model uses? Planted objects give the ground truth exactly."""
import numpy as np
import torch

from saliency.data.planted import make_planted
from saliency.methods import get_method
from tests.support.pointing import TOLERANCE, pointing_hits



def test_oise_points_at_the_planted_object(tiny):
    held_out = make_planted(40, seed=999)
    mean = torch.tensor(tiny.spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(tiny.spec.std).view(1, 3, 1, 1)
    x = (torch.from_numpy(held_out.images) - mean) / std
    method = get_method("oise")
    out = method.fn(tiny, x, torch.from_numpy(held_out.labels),
                    method.parse_params({"grid": 4, "chains": 50, "queries": 500, "weighting": "score"}))
    hits = pointing_hits(out.maps.numpy(), held_out.boxes, TOLERANCE)
    assert hits.mean() >= 0.9, f"peak on the object in {hits.mean():.0%} of held-out images"
    # and the map is not flat: the object holds more than its share of the mass
    area = (held_out.boxes[:, 2] - held_out.boxes[:, 0]) * (held_out.boxes[:, 3] - held_out.boxes[:, 1])
    inside = [m[y0:y1, x0:x1].sum() / m.sum() for m, (x0, y0, x1, y1) in zip(out.maps.numpy(), held_out.boxes)]
    assert np.mean(inside) > 2 * np.mean(area / 32**2)
