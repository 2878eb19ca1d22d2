"""Which anatomical plane a volume's slices lie in."""
from __future__ import annotations

import numpy as np

from core_models.volume import Geometry

_PLANES = ("sagittal", "coronal", "axial")  # slice normal along physical x (L), y (P), z (S)


def slice_plane(geometry: Geometry, tolerance_deg: float = 30.0) -> str:
    """``axial``, ``coronal`` or ``sagittal`` by the slice normal; ``oblique`` otherwise.

    Parameters
    ----------
    geometry : the volume's grid; the normal is the direction of index axis k (z).
    tolerance_deg : largest angle between normal and a patient axis still called that plane.
    """
    normal = geometry.direction_matrix()[:, 2]
    norm = float(np.linalg.norm(normal))
    if norm == 0:
        return "oblique"
    axis = int(np.argmax(np.abs(normal)))
    cosine = abs(float(normal[axis])) / norm
    if cosine < np.cos(np.deg2rad(tolerance_deg)):
        return "oblique"
    return _PLANES[axis]
