"""Pixel conversion into the volume contract: int16, rounded and clipped.

Conversions work slice by slice on a read-only view of the reader's buffer,
so a float or int32 volume costs one int16 result and no full-size
temporaries.
"""
from __future__ import annotations

import numpy as np

from core_models.errors import InputError

INT16_MIN = -32768
INT16_MAX = 32767


def to_int16(array: np.ndarray, what: str) -> tuple[np.ndarray, list[str]]:
    """Convert a (z, y, x) array of any real type to int16.

    Integers outside the int16 range are clipped; floats are rounded to the
    nearest integer and clipped. Non-finite floats (NaN, ±inf) are replaced by
    the smallest finite value of the volume; a volume with no finite value
    raises :class:`InputError`.

    Parameters
    ----------
    array : 3D array (HU or grey values); not modified.
    what : the input, named in messages.

    Returns
    -------
    (int16 array, warnings) : warnings are one-line notes for ``meta["warnings"]``.
    """
    if array.dtype == np.int16:
        return array, []
    if array.dtype == np.bool_:
        return array.astype(np.int16), []
    if np.issubdtype(array.dtype, np.integer):
        return _int_to_int16(array)
    if np.issubdtype(array.dtype, np.floating):
        return _float_to_int16(array, what)
    raise InputError(f"{what} holds {array.dtype} pixels; expected integer or floating-point values")


def _int_to_int16(array: np.ndarray) -> tuple[np.ndarray, list[str]]:
    if array.size == 0:
        return array.astype(np.int16), []
    lo, hi = int(array.min()), int(array.max())
    if INT16_MIN <= lo and hi <= INT16_MAX:
        return array.astype(np.int16), []
    out = np.empty(array.shape, dtype=np.int16)
    for z in range(array.shape[0]):
        np.clip(array[z], INT16_MIN, INT16_MAX, out=out[z], casting="unsafe")
    return out, [f"values {lo}..{hi} were clipped to the int16 range {INT16_MIN}..{INT16_MAX}"]


def _finite_stats(array: np.ndarray) -> tuple[int, float]:
    """Number of non-finite values and the smallest finite value (inf when none)."""
    bad = 0
    lowest = np.inf
    for z in range(array.shape[0]):
        plane = array[z]
        finite = np.isfinite(plane)
        n_finite = int(np.count_nonzero(finite))
        bad += plane.size - n_finite
        if n_finite:
            lowest = min(lowest, float(plane[finite].min() if n_finite < plane.size else plane.min()))
    return bad, lowest


def _float_to_int16(array: np.ndarray, what: str) -> tuple[np.ndarray, list[str]]:
    warnings: list[str] = []
    bad, lowest = _finite_stats(array)
    if array.size and not np.isfinite(lowest):
        raise InputError(f"{what} holds no finite values (all NaN or infinite)")
    if bad:
        warnings.append(f"{bad} NaN/infinite voxels were replaced by the minimum value {lowest:g}")
    out = np.empty(array.shape, dtype=np.int16)
    clipped = 0
    for z in range(array.shape[0]):
        plane = np.array(array[z], dtype=np.float64 if array.dtype == np.float64 else np.float32)
        if bad:
            plane[~np.isfinite(plane)] = lowest
        np.rint(plane, out=plane)
        clipped += int(np.count_nonzero((plane < INT16_MIN) | (plane > INT16_MAX)))
        np.clip(plane, INT16_MIN, INT16_MAX, out=plane)
        out[z] = plane
    if clipped:
        warnings.append(f"{clipped} voxels outside the int16 range were clipped")
    return out, warnings
