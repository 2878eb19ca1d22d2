"""``LabelEdit``: one small, invertible change to a label volume.

An edit stores only the voxels it changed, inside its bounding box:
their flat indices within the box, their old values and their new values
(6 bytes per changed voxel, never a copy of the volume). ``apply`` and
``revert`` are exact inverses on any array that held ``old`` at those
voxels. Edits serialise to a small JSON-safe dict (for the on-disk
journal) and back.

Coordinates are array indices in (z, y, x) order; a bounding box is
``(z0, z1, y0, y1, x0, x1)`` with half-open ranges.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import numpy as np

from core_models.errors import InputError

BBox = tuple[int, int, int, int, int, int]


@dataclass(frozen=True)
class LabelEdit:
    """Changed voxels of one edit.

    Attributes
    ----------
    bbox : (z0, z1, y0, y1, x0, x1)
        Box around the changed voxels (half-open).
    index : (K,) uint32
        Flat (C-order) indices of the changed voxels within the box.
    old, new : (K,) uint8
        Label values before and after, at those voxels.
    """

    bbox: BBox
    index: np.ndarray
    old: np.ndarray
    new: np.ndarray

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_mask(cls, labels: np.ndarray, z: int, mask: np.ndarray, value: int | np.ndarray,
                  offset: tuple[int, int] = (0, 0)) -> LabelEdit | None:
        """The edit that sets ``labels[z][mask] = value``; ``None`` when nothing would change.

        Parameters
        ----------
        labels : (Z, Y, X) uint8 label volume (read only here).
        z : axial slice index.
        mask : (h, w) bool, placed at ``offset`` (y, x) in the slice.
        value : new label value, or an (h, w) array of new values (read where ``mask``).
        """
        mask = np.asarray(mask, dtype=bool)
        y0, x0 = int(offset[0]), int(offset[1])
        h, w = mask.shape
        current = labels[z, y0:y0 + h, x0:x0 + w]
        if current.shape != mask.shape:
            raise InputError(f"edit mask {mask.shape} at {offset} leaves the slice {labels.shape[1:]}")
        target = np.broadcast_to(np.asarray(value, dtype=np.uint8), mask.shape)
        changed = mask & (current != target)
        if not changed.any():
            return None
        ys, xs = np.nonzero(changed)
        by0, by1, bx0, bx1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
        width = bx1 - bx0
        index = ((ys - by0) * width + (xs - bx0)).astype(np.uint32)
        return cls((int(z), int(z) + 1, y0 + by0, y0 + by1, x0 + bx0, x0 + bx1), index,
                   current[ys, xs].astype(np.uint8), target[ys, xs].astype(np.uint8))

    @classmethod
    def from_arrays(cls, before: np.ndarray, after: np.ndarray, corner: tuple[int, int, int]) -> LabelEdit | None:
        """The edit that turns block ``before`` into ``after``, placed at ``corner`` (z, y, x)."""
        if before.shape != after.shape or before.ndim != 3:
            raise InputError("edit blocks must be 3D arrays of the same shape")
        changed = before != after
        if not changed.any():
            return None
        zs, ys, xs = np.nonzero(changed)
        lo = (int(zs.min()), int(ys.min()), int(xs.min()))
        hi = (int(zs.max()) + 1, int(ys.max()) + 1, int(xs.max()) + 1)
        shape = tuple(h - l for l, h in zip(lo, hi))
        index = np.ravel_multi_index((zs - lo[0], ys - lo[1], xs - lo[2]), shape).astype(np.uint32)
        c = corner
        bbox = (c[0] + lo[0], c[0] + hi[0], c[1] + lo[1], c[1] + hi[1], c[2] + lo[2], c[2] + hi[2])
        return cls(bbox, index, before[changed].astype(np.uint8), after[changed].astype(np.uint8))

    # -- use ----------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        z0, z1, y0, y1, x0, x1 = self.bbox
        return z1 - z0, y1 - y0, x1 - x0

    @property
    def count(self) -> int:
        """Number of changed voxels."""
        return int(self.index.size)

    @property
    def nbytes(self) -> int:
        """Memory held by the edit's arrays."""
        return int(self.index.nbytes + self.old.nbytes + self.new.nbytes)

    @property
    def slices(self) -> range:
        """Axial slices the edit touches."""
        return range(self.bbox[0], self.bbox[1])

    def _block(self, labels: np.ndarray) -> np.ndarray:
        z0, z1, y0, y1, x0, x1 = self.bbox
        if z1 > labels.shape[0] or y1 > labels.shape[1] or x1 > labels.shape[2]:
            raise InputError(f"edit box {self.bbox} lies outside the label volume {labels.shape}")
        return labels[z0:z1, y0:y1, x0:x1]

    def _write(self, labels: np.ndarray, values: np.ndarray) -> None:
        block = self._block(labels)
        coords = np.unravel_index(self.index.astype(np.intp), block.shape)
        block[coords] = values

    def apply(self, labels: np.ndarray) -> None:
        """Write the new values into ``labels`` (in place)."""
        self._write(labels, self.new)

    def revert(self, labels: np.ndarray) -> None:
        """Write the old values back into ``labels`` (in place)."""
        self._write(labels, self.old)

    def inverse(self) -> LabelEdit:
        """The edit that undoes this one."""
        return LabelEdit(self.bbox, self.index, self.new, self.old)

    def count_by_slice(self) -> dict[int, int]:
        """Changed voxels per axial slice."""
        per_plane = self.shape[1] * self.shape[2]
        zs, counts = np.unique(self.index // per_plane, return_counts=True)
        return {self.bbox[0] + int(z): int(n) for z, n in zip(zs, counts)}

    # -- journal form ------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (arrays as base64 of little-endian bytes)."""
        return {"bbox": list(self.bbox), "index": _b64(self.index.astype("<u4")),
                "old": _b64(self.old), "new": _b64(self.new)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LabelEdit:
        """Inverse of :meth:`to_json`; raises :class:`InputError` on a malformed record."""
        try:
            bbox = tuple(int(v) for v in data["bbox"])
            index = np.frombuffer(base64.b64decode(data["index"], validate=True), dtype="<u4").astype(np.uint32)
            old = np.frombuffer(base64.b64decode(data["old"], validate=True), dtype=np.uint8).copy()
            new = np.frombuffer(base64.b64decode(data["new"], validate=True), dtype=np.uint8).copy()
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"malformed label edit record ({exc})") from None
        if len(bbox) != 6 or not (index.size == old.size == new.size):
            raise InputError("malformed label edit record (box or array sizes)")
        z0, z1, y0, y1, x0, x1 = bbox
        size = (z1 - z0) * (y1 - y0) * (x1 - x0)
        if min(z0, y0, x0) < 0 or size <= 0 or (index.size and int(index.max()) >= size):
            raise InputError("malformed label edit record (indices outside its box)")
        return cls(bbox, index, old, new)  # type: ignore[arg-type]


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")
