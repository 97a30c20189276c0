"""How saliency maps are judged (shared METHOD.md, "How saliency is judged").

Causal metrics need only the model (deletion, insertion); the pointing games and localisation error
need ground truth; the sanity check needs the method and a model it may copy.
"""
from saliency.catalog.metrics import default_step, parse_metrics
from saliency.metrics.causal import CurveResult, auc, deletion, insertion
from saliency.metrics.localisation import Localisation, energy_box, localisation_error
from saliency.metrics.pointing import energy_pointing_game, peak, point_hits, pointing_game
from saliency.metrics.registry import JOB_METRICS, compute_metrics
from saliency.metrics.regions import boxes_to_mask, iou

__all__ = ["JOB_METRICS", "CurveResult", "Localisation", "auc", "boxes_to_mask", "compute_metrics",
           "default_step", "deletion", "energy_box", "energy_pointing_game", "insertion", "iou",
           "localisation_error", "parse_metrics", "peak", "point_hits", "pointing_game"]
