"""Overlap metrics per lesion class: Dice, IoU, sensitivity, specificity, precision.

Label maps hold 0 background, 1 GGO, 2 consolidation (2D (y, x) or 3D
(z, y, x) arrays). Three classes are scored: ``ggo`` (value 1),
``consolidation`` (value 2) and ``binary`` (GGO ∪ consolidation: any lesion,
so GGO predicted as consolidation counts as a binary true positive).

Counting starts from a 3×3 confusion matrix of label values per slice (rows
ground truth, columns prediction), so a class missing from one slice never
shifts another class (the seed's quirk).

Empty cases
-----------
A ratio whose denominator is 0 (for example Dice when neither the prediction
nor the ground truth holds the class) is ``empty_value`` when the prediction
makes no error for that class (no false positive, no false negative) and 0.0
otherwise. ``empty_value=1.0`` (the default) scores a correctly empty slice as
perfect; ``empty_value=math.nan`` excludes it from nan-aware means.
:func:`segmentation_report` never meets the empty case for its slice means:
it averages each class only over slices whose ground truth holds the class.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from core_models.errors import InputError
from core_models.metrics._checks import N_LABELS, SEGMENTATION_CLASSES, as_label_array, check_same_shape

#: names of the overlap metrics, in report order
OVERLAP_METRICS: tuple[str, ...] = ("dice", "iou", "sensitivity", "specificity", "precision")

#: voxels counted per bincount call (bounds the temporary index array, ~64 MB)
_CHUNK_VOXELS = 8_000_000


def _confusion_stack(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Confusion matrices (n, 3, 3) of a (n, ...) stack, rows ground truth, columns prediction."""
    n = pred.shape[0]
    per_slice = max(1, int(np.prod(pred.shape[1:], dtype=np.int64)))
    out = np.empty((n, N_LABELS * N_LABELS), dtype=np.int64)
    step = max(1, _CHUNK_VOXELS // per_slice)
    for start in range(0, n, step):
        stop = min(n, start + step)
        codes = gt[start:stop].reshape(stop - start, -1).astype(np.intp) * N_LABELS
        codes += pred[start:stop].reshape(stop - start, -1)
        codes += (np.arange(stop - start, dtype=np.intp) * N_LABELS * N_LABELS)[:, None]
        counts = np.bincount(codes.ravel(), minlength=(stop - start) * N_LABELS * N_LABELS)
        out[start:stop] = counts.reshape(stop - start, -1)
    return out.reshape(n, N_LABELS, N_LABELS)


def label_confusion(pred: Any, gt: Any) -> np.ndarray:
    """Per-slice confusion matrices of label values.

    Parameters
    ----------
    pred, gt : ndarray (y, x) or (z, y, x), or LabelMap
        Predicted and ground-truth labels (0 bg, 1 GGO, 2 consolidation).

    Returns
    -------
    ndarray of int64, shape (n_slices, 3, 3)
        ``m[s, t, p]`` = number of pixels of slice ``s`` with true value ``t``
        and predicted value ``p``; a 2D input is one slice.

    Raises
    ------
    InputError
        Shapes differ, or values lie outside 0-2.
    """
    pred_a = as_label_array(pred, "prediction")
    gt_a = as_label_array(gt, "ground truth")
    check_same_shape(pred_a, gt_a)
    if pred_a.ndim == 2:
        pred_a, gt_a = pred_a[None], gt_a[None]
    if pred_a.ndim != 3:
        raise InputError(f"label arrays must be 2D or 3D, got shape {pred_a.shape}")
    return _confusion_stack(pred_a, gt_a)


def class_counts(confusion: np.ndarray, values: Sequence[int]) -> dict[str, np.ndarray]:
    """True/false positive/negative pixel counts of one class from confusion matrices.

    Parameters
    ----------
    confusion : ndarray (..., 3, 3)
        Confusion matrices, rows ground truth, columns prediction.
    values : sequence of int
        Label values that make up the class (``(1, 2)`` for binary).

    Returns
    -------
    dict
        ``tp``, ``fp``, ``fn``, ``tn``: int64 arrays of shape ``confusion.shape[:-2]``.
    """
    idx = np.asarray(values, dtype=np.intp)
    tp = confusion[..., idx, :][..., :, idx].sum(axis=(-2, -1))
    gt_pos = confusion[..., idx, :].sum(axis=(-2, -1))
    pred_pos = confusion[..., :, idx].sum(axis=(-2, -1))
    total = confusion.sum(axis=(-2, -1))
    return {"tp": tp, "fp": pred_pos - tp, "fn": gt_pos - tp, "tn": total - gt_pos - pred_pos + tp}


def _ratio(num: np.ndarray, den: np.ndarray, perfect: np.ndarray, empty_value: float) -> np.ndarray:
    """num / den, with the documented value where den is 0."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    safe = np.where(den > 0, den, 1.0)
    return np.where(den > 0, num / safe, np.where(perfect, empty_value, 0.0))


def overlap_from_counts(
    tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray, empty_value: float = 1.0
) -> dict[str, np.ndarray]:
    """Dice, IoU, sensitivity, specificity and precision from pixel counts.

    Parameters
    ----------
    tp, fp, fn, tn : array-like of int
        Pixel (voxel) counts, broadcast together.
    empty_value : float
        Value of a 0/0 ratio when the prediction makes no error (see module doc).

    Returns
    -------
    dict of str to float64 ndarray
        Keys :data:`OVERLAP_METRICS`; each value lies in [0, 1] (or is ``empty_value``).
    """
    tp, fp, fn, tn = (np.asarray(v, dtype=np.int64) for v in (tp, fp, fn, tn))
    perfect = (fp == 0) & (fn == 0)
    return {
        "dice": _ratio(2 * tp, 2 * tp + fp + fn, perfect, empty_value),
        "iou": _ratio(tp, tp + fp + fn, perfect, empty_value),
        "sensitivity": _ratio(tp, tp + fn, perfect, empty_value),
        "specificity": _ratio(tn, tn + fp, perfect, empty_value),
        "precision": _ratio(tp, tp + fp, perfect, empty_value),
    }


def _class_scores(confusion: np.ndarray, empty_value: float) -> dict[str, dict[str, np.ndarray]]:
    """Counts and overlap metrics of every class for confusion matrices (..., 3, 3)."""
    result: dict[str, dict[str, np.ndarray]] = {}
    for name, values in SEGMENTATION_CLASSES.items():
        counts = class_counts(confusion, values)
        result[name] = {**overlap_from_counts(**counts, empty_value=empty_value), **counts}
    return result


def overlap_scores(pred: Any, gt: Any, *, empty_value: float = 1.0) -> dict[str, dict[str, float]]:
    """Overlap metrics of a whole 2D image or 3D volume, all pixels pooled.

    Parameters
    ----------
    pred, gt : ndarray (y, x) or (z, y, x), or LabelMap
        Predicted and ground-truth labels (0 bg, 1 GGO, 2 consolidation).
    empty_value : float
        Score of a class absent from both (1.0, or ``math.nan`` to exclude it).

    Returns
    -------
    dict
        ``{"ggo" | "consolidation" | "binary": {"dice", "iou", "sensitivity",
        "specificity", "precision": float, "tp", "fp", "fn", "tn": int}}``;
        counts are pixels (voxels).
    """
    pooled = label_confusion(pred, gt).sum(axis=0)
    return _to_python(_class_scores(pooled, empty_value))


def overlap_per_slice(pred: Any, gt: Any, *, empty_value: float = 1.0) -> dict[str, dict[str, np.ndarray]]:
    """Overlap metrics of every slice of a (z, y, x) stack (a 2D image is one slice).

    Returns
    -------
    dict
        As :func:`overlap_scores`, but every value is an array with one entry per slice.
    """
    return _class_scores(label_confusion(pred, gt), empty_value)


def _to_python(scores: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, float]]:
    """Turn 0-d arrays into floats (metrics) and ints (counts)."""
    out: dict[str, dict[str, Any]] = {}
    for name, values in scores.items():
        out[name] = {k: (float(v) if k in OVERLAP_METRICS else int(v)) for k, v in values.items()}
    return out


def _slice_confusions(pred_slices: Any, gt_slices: Any) -> np.ndarray:
    """Confusion matrices (n, 3, 3) of paired slices (a 3D array or a sequence of 2D arrays)."""
    if isinstance(pred_slices, np.ndarray) and isinstance(gt_slices, np.ndarray):
        return label_confusion(pred_slices, gt_slices)
    pred_list, gt_list = list(pred_slices), list(gt_slices)
    if len(pred_list) != len(gt_list):
        raise InputError(f"{len(pred_list)} predicted slices but {len(gt_list)} ground-truth slices")
    if not pred_list:
        raise InputError("no slices to score")
    mats = []
    for i, (p, g) in enumerate(zip(pred_list, gt_list)):
        p_a, g_a = as_label_array(p, f"predicted slice {i}"), as_label_array(g, f"ground-truth slice {i}")
        check_same_shape(p_a, g_a, f"slice {i}")
        if p_a.ndim != 2:
            raise InputError(f"slice {i} must be 2D, got shape {p_a.shape}")
        mats.append(_confusion_stack(p_a[None], g_a[None])[0])
    return np.stack(mats)


def segmentation_report(pred_slices: Any, gt_slices: Any) -> dict[str, Any]:
    """Dice and friends per class, averaged the way BASELINES.md reports them.

    Parameters
    ----------
    pred_slices, gt_slices : sequence of 2D label arrays, or (z, y, x) arrays
        Paired slices; slices may differ in size from pair to pair.

    Returns
    -------
    dict
        ``n_slices``; ``slice_mean``: per class, each metric averaged over the
        slices whose ground truth holds the class (binary: any lesion) and
        ``n_slices`` of them (metrics nan when there is none); ``pooled``: per
        class, metrics and pixel counts with all pixels of all slices together
        (``empty_value`` 1.0).

    Raises
    ------
    InputError
        Unequal slice counts, unequal shapes within a pair, or bad label values.
    """
    confusion = _slice_confusions(pred_slices, gt_slices)
    per_slice = _class_scores(confusion, empty_value=1.0)
    slice_mean: dict[str, dict[str, Any]] = {}
    for name, scores in per_slice.items():
        has_class = (scores["tp"] + scores["fn"]) > 0
        count = int(has_class.sum())
        means = {m: (float(scores[m][has_class].mean()) if count else float("nan")) for m in OVERLAP_METRICS}
        slice_mean[name] = {**means, "n_slices": count}
    pooled = _to_python(_class_scores(confusion.sum(axis=0), empty_value=1.0))
    return {"n_slices": int(confusion.shape[0]), "slice_mean": slice_mean, "pooled": pooled}
