"""Per-RoI score maps: a RoI's 28×28 mask logits resized into its box.

This is the seed's figure column 2, made live: the viewer calls
:func:`paste_logits` for the RoI it shows, and inference calls it to build the
label map from the detector's instances.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def box_to_pixels(box: tuple[float, float, float, float], shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """Integer pixel window ``(y0, y1, x0, x1)`` covering ``box`` (x0, y0, x1, y1), clipped to ``shape``."""
    height, width = shape
    x0 = max(int(math.floor(box[0])), 0)
    y0 = max(int(math.floor(box[1])), 0)
    x1 = min(int(math.ceil(box[2])), width)
    y1 = min(int(math.ceil(box[3])), height)
    return y0, max(y1, y0), x0, max(x1, x0)


def paste_logits(logits: np.ndarray, box: tuple[float, float, float, float],
                 shape: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Resize mask logits into their box (bilinear).

    Parameters
    ----------
    logits : (m, m) mask logits of one RoI.
    box : (x0, y0, x1, y1) in image pixels.
    shape : (H, W) of the image.

    Returns
    -------
    crop : (y1 - y0, x1 - x0) float32 logits covering the box's pixels.
    window : (y0, y1, x0, x1) of the crop in the image (clipped to it).
    """
    y0, y1, x0, x1 = box_to_pixels(box, shape)
    if y1 <= y0 or x1 <= x0:
        return np.zeros((0, 0), np.float32), (y0, y1, x0, x1)
    # resize over the full (unclipped) box, then cut what lies inside the image
    fy0, fx0 = math.floor(box[1]), math.floor(box[0])
    full_h = max(int(math.ceil(box[3])) - fy0, 1)
    full_w = max(int(math.ceil(box[2])) - fx0, 1)
    tensor = torch.from_numpy(np.asarray(logits, dtype=np.float32))[None, None]
    resized = F.interpolate(tensor, size=(full_h, full_w), mode="bilinear", align_corners=False)[0, 0].numpy()
    crop = resized[y0 - fy0: y1 - fy0, x0 - fx0: x1 - fx0]
    return np.ascontiguousarray(crop), (y0, y1, x0, x1)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically safe logistic function."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def instances_to_labels(rois: list, shape: tuple[int, int], threshold: float) -> np.ndarray:
    """Label map (0/1/2) from RoIs: sigmoid probabilities thresholded at ``threshold``.

    Where instances overlap, the pixel takes the label of the instance with the
    highest probability there.
    """
    best = np.zeros(shape, np.float32)
    labels = np.zeros(shape, np.uint8)
    for roi in rois:
        crop, (y0, y1, x0, x1) = paste_logits(roi.mask_logits, roi.box, shape)
        if crop.size == 0:
            continue
        prob = sigmoid(crop)
        region_best = best[y0:y1, x0:x1]
        take = (prob >= threshold) & (prob > region_best)
        region_best[take] = prob[take]
        labels[y0:y1, x0:x1][take] = roi.label
    return labels
