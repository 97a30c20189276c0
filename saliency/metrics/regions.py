"""Ground truth as the metrics see it: a boolean (H, W) mask, or boxes (x0, y0, x1, y1), x1/y1
exclusive (the convention of saliency.data.planted), which become a mask of their union."""
from __future__ import annotations

import numpy as np

Box = tuple[int, int, int, int]


def as_boxes(boxes: np.ndarray | list[Box]) -> np.ndarray:
    arr = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    if (arr[:, 2] < arr[:, 0]).any() or (arr[:, 3] < arr[:, 1]).any():
        raise ValueError("boxes are (x0, y0, x1, y1) with x1 >= x0 and y1 >= y0")
    return arr


def boxes_to_mask(boxes: np.ndarray | list[Box], shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    for x0, y0, x1, y1 in as_boxes(boxes):
        mask[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = True
    return mask


def ground_truth_mask(gt: np.ndarray | list[Box], shape: tuple[int, int]) -> np.ndarray:
    """A boolean mask of `shape` as it is, anything else as boxes."""
    arr = np.asarray(gt)
    if arr.dtype == bool:
        if arr.shape != shape:
            raise ValueError(f"ground-truth mask is {arr.shape}; the map is {shape}")
        return arr
    return boxes_to_mask(arr, shape)


def box_area(box: np.ndarray) -> int:
    return int(max(box[2] - box[0], 0) * max(box[3] - box[1], 0))


def iou(a: np.ndarray | Box, b: np.ndarray | Box) -> float:
    """Intersection over union of two boxes in pixel counts."""
    a, b = np.asarray(a), np.asarray(b)
    inter = box_area(np.array([max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])]))
    union = box_area(a) + box_area(b) - inter
    return inter / union if union > 0 else 0.0
