"""The one volume contract: :class:`CTVolume` and :class:`LabelMap`.

Arrays are in (z, y, x) order exactly as ``SimpleITK.GetArrayFromImage`` gives
them. Geometry follows SimpleITK/ITK physical conventions (LPS, millimetres):

- ``spacing`` is given per array axis, (z, y, x), in mm;
- ``origin`` is the physical position (x, y, z) of voxel (0, 0, 0), in mm;
- ``direction`` is SimpleITK's 9 numbers, row-major, whose columns are the
  physical directions of the image axes i (x), j (y), k (z).

A 2D image is a volume of one slice. A :class:`LabelMap` shares its CT's
:class:`Geometry`; writing labels copies it, so the labels land on the CT.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import SimpleITK as sitk

from core_models.labels import check_label_values

IDENTITY_DIRECTION: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


@dataclass(frozen=True)
class Geometry:
    """Voxel grid: spacing (z, y, x) mm, origin (x, y, z) mm, direction (9)."""

    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[float, ...] = IDENTITY_DIRECTION

    def __post_init__(self) -> None:
        if len(self.spacing) != 3 or len(self.origin) != 3 or len(self.direction) != 9:
            raise ValueError("geometry needs 3 spacings, 3 origin values and 9 direction values")
        if any(not np.isfinite(s) or s <= 0 for s in self.spacing):
            raise ValueError(f"spacing must be positive, got {self.spacing}")

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in millilitres (1 mL = 1000 mm³)."""
        return float(np.prod(self.spacing)) / 1000.0

    def direction_matrix(self) -> np.ndarray:
        """3×3 direction matrix; column c is the physical direction of index axis c (x, y, z)."""
        return np.asarray(self.direction, dtype=float).reshape(3, 3)

    def index_to_physical(self, z: float, y: float, x: float) -> np.ndarray:
        """Physical LPS position (x, y, z) in mm of array index (z, y, x)."""
        sx_sy_sz = np.array([self.spacing[2], self.spacing[1], self.spacing[0]])
        ijk = np.array([x, y, z], dtype=float)
        return np.asarray(self.origin) + self.direction_matrix() @ (ijk * sx_sy_sz)

    def apply_to(self, image: sitk.Image) -> sitk.Image:
        """Copy this geometry onto a SimpleITK image (in place) and return it."""
        image.SetSpacing((self.spacing[2], self.spacing[1], self.spacing[0]))
        image.SetOrigin(tuple(float(v) for v in self.origin))
        image.SetDirection(tuple(float(v) for v in self.direction))
        return image

    @classmethod
    def from_sitk(cls, image: sitk.Image) -> Geometry:
        """Geometry of a 3D SimpleITK image (a 2D one is lifted to one slice)."""
        if image.GetDimension() == 2:
            sx, sy = image.GetSpacing()
            ox, oy = image.GetOrigin()
            d = image.GetDirection()
            return cls((1.0, float(sy), float(sx)), (float(ox), float(oy), 0.0),
                       (d[0], d[1], 0.0, d[2], d[3], 0.0, 0.0, 0.0, 1.0))
        sx, sy, sz = image.GetSpacing()
        return cls((float(sz), float(sy), float(sx)), tuple(float(v) for v in image.GetOrigin()),
                   tuple(float(v) for v in image.GetDirection()))

    def to_json(self) -> dict:
        return {"spacing": list(self.spacing), "origin": list(self.origin), "direction": list(self.direction)}

    @classmethod
    def from_json(cls, data: dict) -> Geometry:
        return cls(tuple(data["spacing"]), tuple(data["origin"]), tuple(data["direction"]))

    def orientation_code(self) -> str:
        """Three-letter ITK-style code (e.g. ``LPS``): where each index axis x, y, z points."""
        letters = (("L", "R"), ("P", "A"), ("S", "I"))
        mat = self.direction_matrix()
        code = ""
        for col in range(3):
            axis = int(np.argmax(np.abs(mat[:, col])))
            code += letters[axis][0] if mat[axis, col] > 0 else letters[axis][1]
        return code


@dataclass
class CTVolume:
    """A CT series (or a 2D image as one slice).

    Attributes
    ----------
    array : int16 ndarray (z, y, x); Hounsfield units when ``is_hu``, else 0-255 grey.
    geometry : voxel grid.
    modality : DICOM modality (``CT``) or ``OT`` for plain images.
    is_hu : whether values are Hounsfield units (False for 8-bit PNG/JPG).
    source : human description of where it came from.
    meta : extra facts (series UID, slice file names, seed class, ...).
    """

    array: np.ndarray
    geometry: Geometry = field(default_factory=Geometry)
    modality: str = "CT"
    is_hu: bool = True
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise ValueError(f"CTVolume needs a (z, y, x) array, got shape {self.array.shape}")
        if self.array.dtype != np.int16:
            raise ValueError(f"CTVolume holds int16, got {self.array.dtype}")

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.array.shape)  # type: ignore[return-value]

    @property
    def spacing(self) -> tuple[float, float, float]:
        return self.geometry.spacing

    @property
    def origin(self) -> tuple[float, float, float]:
        return self.geometry.origin

    @property
    def direction(self) -> tuple[float, ...]:
        return self.geometry.direction

    @property
    def is_2d(self) -> bool:
        return self.array.shape[0] == 1

    def to_sitk(self) -> sitk.Image:
        """A 3D SimpleITK image with this volume's geometry."""
        return self.geometry.apply_to(sitk.GetImageFromArray(self.array))

    def empty_labels(self) -> LabelMap:
        """An all-background label map on this volume's grid."""
        return LabelMap(np.zeros(self.array.shape, dtype=np.uint8), self.geometry, source=self.source)


@dataclass
class LabelMap:
    """uint8 labels (z, y, x) on a CT grid; values from the label table."""

    array: np.ndarray
    geometry: Geometry = field(default_factory=Geometry)
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise ValueError(f"LabelMap needs a (z, y, x) array, got shape {self.array.shape}")
        if self.array.dtype != np.uint8:
            raise ValueError(f"LabelMap holds uint8, got {self.array.dtype}")

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.array.shape)  # type: ignore[return-value]

    def check_values(self) -> None:
        """Raise :class:`~core_models.errors.InputError` on values outside the label table."""
        check_label_values(self.array, what=self.source or "label map")

    def to_sitk(self) -> sitk.Image:
        return self.geometry.apply_to(sitk.GetImageFromArray(self.array))

    def volumes_ml(self) -> dict[int, float]:
        """Volume in mL of each non-zero label value.

        Only the slices holding a label are counted, value by value: a
        ``bincount`` of the whole array would first widen every voxel to
        64 bits (1.3 s and 630 MB at 512x512x300).
        """
        arr = self.array
        rows = arr.reshape(arr.shape[0], -1) if arr.ndim > 1 else arr.reshape(1, -1)
        used = rows[rows.any(axis=1)]
        if used.size == 0:
            return {}
        top = int(used.max())
        if top <= 8:
            counts = {v: int(np.count_nonzero(used == v)) for v in range(1, top + 1)}
        else:
            counts = dict(enumerate(np.bincount(used.ravel()).tolist()))
        voxel = self.geometry.voxel_volume_ml
        return {v: float(n) * voxel for v, n in counts.items() if v > 0 and n}

    def copy(self) -> LabelMap:
        return replace(self, array=self.array.copy(), meta=dict(self.meta))
