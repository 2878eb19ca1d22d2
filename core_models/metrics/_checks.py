"""Input checks shared by the metric modules: label arrays, spacing, class sets.

Every check raises :class:`~core_models.errors.InputError` with a one-line
message, so a bad input never reaches the user as a traceback.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from core_models.errors import InputError
from core_models.labels import CONSOLIDATION, GGO

#: largest label value the overlap metrics accept (0 bg, 1 GGO, 2 consolidation)
MAX_LABEL = CONSOLIDATION
#: number of label values (background included)
N_LABELS = MAX_LABEL + 1

#: class name -> label values that make up the class; ``binary`` is any lesion
SEGMENTATION_CLASSES: dict[str, tuple[int, ...]] = {
    "ggo": (GGO,),
    "consolidation": (CONSOLIDATION,),
    "binary": (GGO, CONSOLIDATION),
}

#: lesion label value -> class name used in the instance (AP) reports
LESION_NAMES: dict[int, str] = {GGO: "ggo", CONSOLIDATION: "consolidation"}


def as_label_array(labels: Any, what: str) -> np.ndarray:
    """Return ``labels`` as an integer ndarray with values 0-2.

    Parameters
    ----------
    labels : array-like or object with an ``array`` attribute (a LabelMap)
        Label values (0 background, 1 GGO, 2 consolidation).
    what : str
        Name used in the error message ("prediction", "ground truth").

    Raises
    ------
    InputError
        Non-integer values, values outside 0-2, or fewer than 2 dimensions.
    """
    array = np.asarray(getattr(labels, "array", labels))
    if array.dtype == bool:
        array = array.view(np.uint8)
    if not np.issubdtype(array.dtype, np.integer):
        raise InputError(f"{what} must hold integer label values, got dtype {array.dtype}")
    if array.ndim < 2:
        raise InputError(f"{what} must be a 2D or 3D label array, got shape {array.shape}")
    if array.size:
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > MAX_LABEL:
            hint = " (seed PNG masks use 0-3: convert them with labels.from_seed)" if high == 3 else ""
            raise InputError(
                f"{what} holds label value {high if high > MAX_LABEL else low}; "
                f"expected 0 background, 1 GGO, 2 consolidation{hint}"
            )
    return array


def check_same_shape(pred: np.ndarray, gt: np.ndarray, where: str = "") -> None:
    """Raise :class:`InputError` unless prediction and ground truth have one shape."""
    if pred.shape != gt.shape:
        suffix = f" ({where})" if where else ""
        raise InputError(f"prediction shape {pred.shape} differs from ground truth shape {gt.shape}{suffix}")


def as_spacing(spacing: Sequence[float] | None, ndim: int) -> tuple[float, ...]:
    """Voxel spacing in mm, one value per array axis.

    Parameters
    ----------
    spacing : sequence of float or None
        Spacing in mm in array-axis order ((y, x) for 2D, (z, y, x) for 3D).
        A 3-value (z, y, x) spacing is accepted for a 2D array, whose last two
        values are then used. None means 1 mm on every axis.
    ndim : int
        Number of array dimensions.

    Raises
    ------
    InputError
        Wrong number of values, or values that are not positive and finite.
    """
    if spacing is None:
        return (1.0,) * ndim
    values = tuple(float(s) for s in spacing)
    if len(values) == 3 and ndim == 2:
        values = values[1:]
    if len(values) != ndim:
        raise InputError(f"spacing {values} needs {ndim} values (mm per array axis)")
    if any(not np.isfinite(s) or s <= 0 for s in values):
        raise InputError(f"spacing must be positive millimetres, got {values}")
    return values


def check_fraction(value: float, what: str) -> float:
    """Return ``value`` as float if it lies in [0, 1], else raise :class:`InputError`."""
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise InputError(f"{what} must lie between 0 and 1, got {value}")
    return value
