"""Instance mask AP over a data set: mAP@[0.50:0.05:0.95], AP@0.5, AP@0.75.

Three methods (matching and interpolation are defined in :mod:`.ap`):

- ``coco101`` (the default): per class, the matches of all images are pooled
  into one ranked list and AP uses COCO's 101-point interpolation;
- ``voc``: pooled the same way, VOC all-point interpolation;
- ``voc_per_image``: the seed's way, so our figures compare with the published
  ones: VOC all-point AP per image and class, then the mean over the images
  that count for the class. (The seed also scored images with neither ground
  truth nor predictions as AP 1 and pooled classes within an image; we do
  neither. With one merged lesion class the pooling makes no difference.)

An image counts for a class when it holds ground truth or predictions of it;
predictions on an image without ground truth of their class are false
positives. A class with no ground truth anywhere gets AP nan (recall is
undefined) and is left out of the mean over classes. Every prediction is
used (no cap of 100 per image as in COCO).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from core_models.errors import InputError
from core_models.labels import CONSOLIDATION, GGO
from core_models.metrics._checks import LESION_NAMES, check_fraction
from core_models.metrics.ap import COCO_IOU_THRESHOLDS, average_precision, greedy_match
from core_models.metrics.instances import Instance, mask_iou_matrix

APMethod = Literal["coco101", "voc", "voc_per_image"]
AP_METHODS: tuple[str, ...] = ("coco101", "voc", "voc_per_image")


@dataclass
class _ClassMatches:
    """Matches of one class: per image, the scores and true-positive flags (n, n_thresholds)."""

    scores: list[np.ndarray] = field(default_factory=list)
    is_tp: list[np.ndarray] = field(default_factory=list)
    n_gt: list[int] = field(default_factory=list)


def _check_inputs(predictions: Sequence[Sequence[Instance]], ground_truths: Sequence[Sequence[Instance]]) -> None:
    """Raise :class:`InputError` on unequal image counts or non-Instance entries."""
    if len(predictions) != len(ground_truths):
        raise InputError(f"predictions for {len(predictions)} images but ground truth for {len(ground_truths)}")
    for what, images in (("prediction", predictions), ("ground truth", ground_truths)):
        for i, items in enumerate(images):
            if any(not isinstance(item, Instance) for item in items):
                raise InputError(f"{what} of image {i} holds something that is not an Instance")


def _collect_matches(
    predictions: Sequence[Sequence[Instance]],
    ground_truths: Sequence[Sequence[Instance]],
    classes: Sequence[int],
    thresholds: Sequence[float],
) -> dict[int, _ClassMatches]:
    """Match predictions to ground truth per image and class at every threshold."""
    result = {c: _ClassMatches() for c in classes}
    for preds, gts in zip(predictions, ground_truths):
        for c in classes:
            p_c = [p for p in preds if p.label == c]
            g_c = [g for g in gts if g.label == c]
            scores = np.array([p.score for p in p_c], dtype=np.float64)
            result[c].scores.append(scores)
            result[c].is_tp.append(greedy_match(mask_iou_matrix(p_c, g_c), scores, thresholds))
            result[c].n_gt.append(len(g_c))
    return result


def _pooled_ap(matches: _ClassMatches, n_thr: int, interpolation: Literal["coco101", "voc"]) -> np.ndarray:
    """AP per threshold with all images of one class in one ranked list."""
    scores = np.concatenate(matches.scores) if matches.scores else np.zeros(0)
    is_tp = np.concatenate(matches.is_tp) if matches.is_tp else np.zeros((0, n_thr), dtype=bool)
    n_gt = int(sum(matches.n_gt))
    if n_gt == 0:
        return np.full(n_thr, math.nan)
    return np.array([average_precision(scores, is_tp[:, t], n_gt, interpolation) for t in range(n_thr)])


def _per_image_ap(matches: _ClassMatches, n_thr: int) -> tuple[np.ndarray, int]:
    """Mean over counting images of the per-image VOC all-point AP; and the image count."""
    per_image = [
        [average_precision(s, tp[:, t], n, "voc") for t in range(n_thr)]
        for s, tp, n in zip(matches.scores, matches.is_tp, matches.n_gt)
        if n > 0 or s.size > 0
    ]
    if not per_image or sum(matches.n_gt) == 0:
        return np.full(n_thr, math.nan), len(per_image)
    return np.asarray(per_image).mean(axis=0), len(per_image)


def _at(ap: np.ndarray, thresholds: Sequence[float], value: float) -> float:
    """AP at the IoU threshold ``value`` (nan if it was not evaluated)."""
    hits = [i for i, t in enumerate(thresholds) if math.isclose(t, value, abs_tol=1e-9)]
    return float(ap[hits[0]]) if hits else math.nan


def _summary(ap: np.ndarray, thresholds: Sequence[float]) -> dict[str, Any]:
    """mAP over thresholds, AP@0.5, AP@0.75 and the per-threshold list."""
    mean = float(ap.mean()) if ap.size and not np.isnan(ap).any() else math.nan
    return {"map": mean, "ap50": _at(ap, thresholds, 0.5), "ap75": _at(ap, thresholds, 0.75),
            "ap_per_threshold": [float(v) for v in ap]}


def _mean_over_classes(per_class: dict[str, dict[str, Any]], key: str) -> float:
    """Mean of ``key`` over the classes where it is a number."""
    values = [v[key] for v in per_class.values() if not math.isnan(v[key])]
    return float(np.mean(values)) if values else math.nan


def evaluate_mask_ap(
    predictions: Sequence[Sequence[Instance]],
    ground_truths: Sequence[Sequence[Instance]],
    *,
    method: APMethod = "coco101",
    iou_thresholds: Sequence[float] = COCO_IOU_THRESHOLDS,
    classes: Sequence[int] = (GGO, CONSOLIDATION),
) -> dict[str, Any]:
    """Mask AP per class and its mean over classes, over a set of 2D images.

    Parameters
    ----------
    predictions : sequence (one per image) of sequences of Instance
        Predicted instances with class and score.
    ground_truths : sequence (one per image) of sequences of Instance
        Ground-truth instances (e.g. from :func:`instances_from_labels`).
    method : {"coco101", "voc", "voc_per_image"}
        See module doc; ``coco101`` is the default.
    iou_thresholds : sequence of float
        Mask IoU thresholds (default 0.50, 0.55, ..., 0.95).
    classes : sequence of int
        Label values to score (default 1 GGO, 2 consolidation); others are ignored.

    Returns
    -------
    dict
        ``method``, ``iou_thresholds``; ``classes``: per class name
        ``{"map", "ap50", "ap75", "ap_per_threshold", "n_gt", "n_pred", "n_images"}``;
        and ``map``, ``ap50``, ``ap75`` averaged over the classes that have a value.
    """
    if method not in AP_METHODS:
        raise InputError(f"unknown AP method {method!r}; use one of {', '.join(AP_METHODS)}")
    thresholds = [check_fraction(t, "IoU threshold") for t in iou_thresholds]
    if not thresholds:
        raise InputError("at least one IoU threshold is needed")
    if min(thresholds) <= 0.0:
        raise InputError("IoU thresholds must be above 0 (at 0, objects that do not touch would match)")
    _check_inputs(predictions, ground_truths)
    matches = _collect_matches(predictions, ground_truths, list(classes), thresholds)
    per_class: dict[str, dict[str, Any]] = {}
    for c, m in matches.items():
        counting = sum(1 for s, n in zip(m.scores, m.n_gt) if n > 0 or s.size > 0)
        if method == "voc_per_image":
            ap, counting = _per_image_ap(m, len(thresholds))
        else:
            ap = _pooled_ap(m, len(thresholds), "voc" if method == "voc" else "coco101")
        counts = {"n_gt": int(sum(m.n_gt)), "n_pred": int(sum(s.size for s in m.scores)), "n_images": counting}
        per_class[LESION_NAMES.get(c, f"class_{c}")] = {**_summary(ap, thresholds), **counts}
    overall = {key: _mean_over_classes(per_class, key) for key in ("map", "ap50", "ap75")}
    return {"method": method, "iou_thresholds": thresholds, "classes": per_class, **overall}
