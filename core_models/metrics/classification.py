"""Slice classification metrics: confusion matrix, per-class sensitivity, accuracy.

Classes (the seed's module S): 0 Control, 1 common pneumonia, 2 COVID-19.
The confusion matrix has rows = true class and columns = predicted class, so

- sensitivity (recall) of class k = C[k, k] / Σ_j C[k, j]  (row k),
- precision of class k            = C[k, k] / Σ_i C[i, k]  (column k),
- specificity of class k          = true negatives / all true non-k,
- accuracy                        = trace(C) / ΣC.

(The seed's Grad-CAM report swapped precision and recall; ours follow the
definitions above, and a test with an asymmetric case holds them there.)
A ratio with a zero denominator (a class absent from the truth, or never
predicted) is nan.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from core_models.errors import InputError

#: class names of the slice classifier, index = class value
CLASSIFIER_CLASSES: tuple[str, ...] = ("Control", "Common pneumonia", "COVID-19")


def _as_class_vector(values: Any, n_classes: int, what: str) -> np.ndarray:
    """1D integer array of class indices in [0, n_classes)."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise InputError(f"{what} must be a flat list of class indices, got shape {array.shape}")
    if array.dtype.kind not in "biuf":
        raise InputError(f"{what} must be class indices (numbers), got {array.dtype}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        if not np.all(np.equal(np.mod(array, 1), 0)):
            raise InputError(f"{what} must hold whole class indices")
    array = array.astype(np.int64)
    bad = array[(array < 0) | (array >= n_classes)]
    if bad.size:
        raise InputError(f"{what} holds class {int(bad[0])}; expected 0 to {n_classes - 1}")
    return array


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int = 3) -> np.ndarray:
    """Confusion matrix of class indices, rows true class, columns predicted class.

    Parameters
    ----------
    y_true, y_pred : sequences of int, equal length
        True and predicted class per sample (0 Control, 1 CP, 2 COVID-19).
    n_classes : int
        Number of classes.

    Returns
    -------
    ndarray of int64, shape (n_classes, n_classes)
    """
    if n_classes < 1:
        raise InputError(f"need at least one class, got {n_classes}")
    truth = _as_class_vector(y_true, n_classes, "true classes")
    pred = _as_class_vector(y_pred, n_classes, "predicted classes")
    if truth.size != pred.size:
        raise InputError(f"{truth.size} true classes but {pred.size} predictions")
    flat = np.bincount(truth * n_classes + pred, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes)


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den element-wise, nan where den is 0."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def per_class_rates(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Sensitivity, precision, specificity, F1 and support of each class.

    Parameters
    ----------
    matrix : ndarray (k, k)
        Confusion matrix, rows true, columns predicted.

    Returns
    -------
    dict of str to ndarray (k,)
        ``sensitivity``, ``precision``, ``specificity``, ``f1`` (nan where
        undefined) and ``support`` (true samples per class).
    """
    matrix = np.asarray(matrix, dtype=np.int64)
    tp = np.diag(matrix)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    tn = matrix.sum() - support - predicted + tp
    sensitivity = _safe_ratio(tp, support)
    precision = _safe_ratio(tp, predicted)
    return {
        "sensitivity": sensitivity,
        "precision": precision,
        "specificity": _safe_ratio(tn, tn + predicted - tp),
        "f1": _safe_ratio(2 * tp, support + predicted),
        "support": support,
    }


def classification_report(
    y_true: Sequence[int], y_pred: Sequence[int], class_names: Sequence[str] = CLASSIFIER_CLASSES
) -> dict[str, Any]:
    """Accuracy, confusion matrix and per-class rates of a classifier.

    Parameters
    ----------
    y_true, y_pred : sequences of int
        True and predicted class indices.
    class_names : sequence of str
        One name per class (default Control, Common pneumonia, COVID-19).

    Returns
    -------
    dict
        ``accuracy`` (nan with no samples), ``n_samples``, ``confusion_matrix``
        (list of lists, rows true), ``classes``: per name ``{"sensitivity",
        "precision", "specificity", "f1", "support"}``, and ``mean_sensitivity``
        (balanced accuracy over classes with samples).
    """
    matrix = confusion_matrix(y_true, y_pred, len(class_names))
    rates = per_class_rates(matrix)
    total = int(matrix.sum())
    classes = {
        name: {key: (int(rates[key][k]) if key == "support" else float(rates[key][k])) for key in rates}
        for k, name in enumerate(class_names)
    }
    present = rates["sensitivity"][~np.isnan(rates["sensitivity"])]
    return {
        "accuracy": float(np.trace(matrix) / total) if total else math.nan,
        "n_samples": total,
        "confusion_matrix": matrix.tolist(),
        "classes": classes,
        "mean_sensitivity": float(present.mean()) if present.size else math.nan,
    }
