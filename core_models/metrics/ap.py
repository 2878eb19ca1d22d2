"""Average precision building blocks: one-to-one greedy matching and interpolation.

Matching (per image and class, at each IoU threshold): predictions are taken
from the highest score down (ties keep input order); each one is matched to
the still-unmatched ground truth with the highest IoU ≥ threshold (ties: the
first such ground truth), and becomes a true positive; otherwise it is a false
positive. A prediction matches at most one ground truth and a ground truth at
most one prediction (the seed let one prediction match several).

Interpolation of the precision/recall curve (predictions sorted by score):

- ``coco101``: COCO's 101-point rule: precision is made non-increasing from
  the right (the envelope); at each recall r in 0, 0.01, ..., 1 take the
  envelope at the first rank whose recall ≥ r (0 if recall never reaches r);
  AP is the mean of the 101 values.
- ``voc``: VOC 2010+ all-point rule (the seed's): the curve is padded with
  (recall 0, precision 0) in front and (recall 1, precision 0) at the end, the
  envelope is taken, and AP = Σ Δrecall × envelope over the ranks where
  recall changes.

Empty cases: no ground truth and no prediction → nan (does not count); no
ground truth but predictions → 0.0 (all false positives); ground truth but no
prediction → 0.0.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

from core_models.errors import InputError

Interpolation = Literal["coco101", "voc"]

#: IoU thresholds 0.50, 0.55, ..., 0.95 of mAP@[0.50:0.05:0.95]
COCO_IOU_THRESHOLDS: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))

_RECALL_POINTS = np.linspace(0.0, 1.0, 101)


def greedy_match(iou: np.ndarray, scores: Sequence[float], thresholds: Sequence[float]) -> np.ndarray:
    """One-to-one greedy matching of predictions to ground truths by score.

    Parameters
    ----------
    iou : ndarray (n_pred, n_gt)
        Mask IoU of every pair.
    scores : sequence of float, length n_pred
        Prediction confidences.
    thresholds : sequence of float
        IoU thresholds, each in [0, 1].

    Returns
    -------
    ndarray of bool, shape (n_pred, n_thresholds)
        True where the prediction (in input order) is a true positive at that threshold.
    """
    iou = np.asarray(iou, dtype=np.float64)
    if iou.ndim != 2 or iou.shape[0] != len(scores):
        raise InputError(f"IoU matrix of shape {iou.shape} does not fit {len(scores)} prediction scores")
    thr = np.asarray(thresholds, dtype=np.float64)
    n_pred, n_gt = iou.shape
    is_tp = np.zeros((n_pred, thr.size), dtype=bool)
    if n_pred == 0 or n_gt == 0:
        return is_tp
    matched = np.zeros((thr.size, n_gt), dtype=bool)
    rows = np.arange(thr.size)
    for i in np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable"):
        allowed = (iou[i][None, :] >= thr[:, None]) & ~matched
        best = np.where(allowed, iou[i][None, :], -np.inf).argmax(axis=1)
        hit = allowed[rows, best]
        matched[rows[hit], best[hit]] = True
        is_tp[i] = hit
    return is_tp


def precision_recall(scores: Sequence[float], is_tp: Sequence[bool], n_gt: int) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall after each rank, predictions sorted by falling score.

    Parameters
    ----------
    scores : sequence of float
        Prediction confidences.
    is_tp : sequence of bool
        Whether each prediction is a true positive.
    n_gt : int
        Number of ground-truth objects (> 0).

    Returns
    -------
    (precision, recall) : ndarrays of float64, one value per prediction
    """
    if n_gt <= 0:
        raise InputError("recall needs at least one ground-truth object")
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    hits = np.asarray(is_tp, dtype=bool)[order]
    tp = np.cumsum(hits)
    ranks = np.arange(1, hits.size + 1)
    return tp / ranks, tp / float(n_gt)


def ap_voc_all_point(precision: np.ndarray, recall: np.ndarray) -> float:
    """VOC all-point AP of a precision/recall curve (see module doc)."""
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    envelope = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * envelope[steps + 1]))


def ap_coco_101(precision: np.ndarray, recall: np.ndarray) -> float:
    """COCO 101-point AP of a precision/recall curve (see module doc)."""
    if precision.size == 0:
        return 0.0
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    ranks = np.searchsorted(recall, _RECALL_POINTS, side="left")
    reached = ranks < recall.size
    values = np.where(reached, envelope[np.minimum(ranks, recall.size - 1)], 0.0)
    return float(values.mean())


def average_precision(
    scores: Sequence[float], is_tp: Sequence[bool], n_gt: int, interpolation: Interpolation = "coco101"
) -> float:
    """AP of one class at one IoU threshold.

    Parameters
    ----------
    scores, is_tp : sequences of equal length
        Prediction confidences and whether each matched a ground truth.
    n_gt : int
        Number of ground-truth objects.
    interpolation : {"coco101", "voc"}
        See module doc.

    Returns
    -------
    float
        AP in [0, 1]; nan with neither predictions nor ground truth; 0.0
        when only one of them exists.
    """
    if interpolation not in ("coco101", "voc"):
        raise InputError(f"unknown AP interpolation {interpolation!r}; use 'coco101' or 'voc'")
    n_pred = len(scores)
    if len(is_tp) != n_pred:
        raise InputError(f"{n_pred} scores but {len(is_tp)} match flags")
    if n_gt == 0:
        return math.nan if n_pred == 0 else 0.0
    precision, recall = precision_recall(scores, is_tp, n_gt)
    if interpolation == "voc":
        return ap_voc_all_point(precision, recall)
    return ap_coco_101(precision, recall)
