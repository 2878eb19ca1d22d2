"""The three display planes: which array axes they show and how (Qt-free).

Arrays are (z, y, x). A plane shows a 2D cut with ``rows`` and ``cols``
array axes; coronal and sagittal rows (z) are flipped when z points to the
head, so superior is at the top, as radiologists expect.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core_models.volume import Geometry

PLANES = ("axial", "coronal", "sagittal")
_OPPOSITE = {"L": "R", "R": "L", "P": "A", "A": "P", "S": "I", "I": "S"}
#: array axis (0 z, 1 y, 2 x) -> position in Geometry.orientation_code (x, y, z)
_CODE_INDEX = {0: 2, 1: 1, 2: 0}


@dataclass(frozen=True)
class Plane:
    """How one view cuts the volume.

    Attributes
    ----------
    name : ``axial``, ``coronal`` or ``sagittal``.
    fixed : the array axis held constant (0 z, 1 y, 2 x).
    rows, cols : the array axes shown down and across.
    flip_rows : whether the rows are shown in reverse order.
    """

    name: str
    fixed: int
    rows: int
    cols: int
    flip_rows: bool = False

    def extract(self, array: np.ndarray, index: int) -> np.ndarray:
        """The 2D cut at ``index`` along :attr:`fixed` (a view, flipped when needed)."""
        cut = np.take(array, int(index), axis=self.fixed)
        return cut[::-1] if self.flip_rows else cut

    def to_voxel(self, index: int, row: float, col: float, shape: tuple[int, ...]) -> tuple[int, int, int]:
        """Voxel (z, y, x) under plane pixel (row, col); clipped to the volume."""
        r = int(np.floor(row))
        if self.flip_rows:
            r = shape[self.rows] - 1 - r
        voxel = [0, 0, 0]
        voxel[self.fixed] = int(index)
        voxel[self.rows] = min(max(r, 0), shape[self.rows] - 1)
        voxel[self.cols] = min(max(int(np.floor(col)), 0), shape[self.cols] - 1)
        return voxel[0], voxel[1], voxel[2]

    def to_plane(self, voxel: tuple[int, int, int], shape: tuple[int, ...]) -> tuple[int, int]:
        """Plane pixel (row, col) of voxel (z, y, x)."""
        row = voxel[self.rows]
        if self.flip_rows:
            row = shape[self.rows] - 1 - row
        return int(row), int(voxel[self.cols])

    def pixel_mm(self, spacing: tuple[float, float, float]) -> tuple[float, float]:
        """Pixel size (row height, column width) in mm from spacing (z, y, x)."""
        return float(spacing[self.rows]), float(spacing[self.cols])

    def edge_letters(self, geometry: Geometry) -> dict[str, str]:
        """Patient directions at the left, right, top and bottom edges (``R``, ``L``, ...)."""
        code = geometry.orientation_code()
        col_plus = code[_CODE_INDEX[self.cols]]
        row_plus = code[_CODE_INDEX[self.rows]]
        down = _OPPOSITE[row_plus] if self.flip_rows else row_plus
        return {"left": _OPPOSITE[col_plus], "right": col_plus, "top": _OPPOSITE[down], "bottom": down}


def make_plane(name: str, geometry: Geometry) -> Plane:
    """The :class:`Plane` called ``name`` for a volume with ``geometry``."""
    if name == "axial":
        return Plane("axial", 0, 1, 2)
    z_up = geometry.orientation_code()[2] == "S"
    if name == "coronal":
        return Plane("coronal", 1, 0, 2, flip_rows=z_up)
    if name == "sagittal":
        return Plane("sagittal", 2, 0, 1, flip_rows=z_up)
    raise ValueError(f"unknown plane {name!r}; use one of {PLANES}")
