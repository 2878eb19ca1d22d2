"""Placing a label map that covers part of a CT grid (a cropped Slicer segmentation)."""
from __future__ import annotations

import numpy as np

from core_models.errors import InputError
from core_models.volume import Geometry

_TOL_MM = 1e-3
_TOL_INDEX = 1e-2


def _same_axes(a: Geometry, b: Geometry) -> bool:
    return (np.allclose(a.spacing, b.spacing, rtol=1e-4, atol=_TOL_MM)
            and np.allclose(a.direction, b.direction, atol=1e-4))


def paste_into_grid(values: np.ndarray, geometry: Geometry, reference_shape: tuple[int, int, int],
                    reference: Geometry, what: str) -> np.ndarray:
    """Put ``values`` (on ``geometry``) into a zero array on the reference grid.

    The two grids must share spacing and direction and be offset by whole
    voxels, with ``values`` lying inside the reference; otherwise the label
    map does not belong to this CT and :class:`InputError` is raised.

    Parameters
    ----------
    values : (z, y, x) uint8 labels.
    geometry : their grid.
    reference_shape, reference : the CT's (z, y, x) shape and grid.
    what : the label file, named in messages.
    """
    mismatch = InputError(f"{what} has shape {values.shape}, which does not fit the CT's shape "
                          f"{reference_shape} or its voxel grid")
    if not _same_axes(geometry, reference):
        raise mismatch
    step = reference.direction_matrix() * np.array(reference.spacing[::-1])[None, :]
    offset_xyz = np.linalg.solve(step, np.asarray(geometry.origin) - np.asarray(reference.origin))
    rounded = np.round(offset_xyz)
    if np.any(np.abs(offset_xyz - rounded) > _TOL_INDEX):
        raise mismatch
    start = rounded.astype(int)[::-1]  # (z, y, x)
    stop = start + np.array(values.shape)
    if np.any(start < 0) or np.any(stop > np.array(reference_shape)):
        raise mismatch
    out = np.zeros(reference_shape, dtype=np.uint8)
    out[start[0]:stop[0], start[1]:stop[1], start[2]:stop[2]] = values
    return out
