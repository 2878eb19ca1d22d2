"""Tubes (vessels, airways, the aorta) as chains of tapered cylinder pieces, drawn in 3-D.

A :class:`Tubes` holds pieces from ``p0`` to ``p1`` (chest mm, (z, y, x)) with
radii ``r0`` to ``r1``. Drawing treats every slice as the slab of chest it
covers: a piece shows where it passes anywhere through the slab, and a
thin piece lying in the slice plane is faded by the part of the slab it fills
(partial volume), as on a real scanner.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core_models.phantom.frame import Frame


@dataclass
class Tubes:
    """Tapered cylinder pieces: ``p0``, ``p1`` (m, 3) chest mm (z, y, x); ``r0``, ``r1`` (m,) mm."""

    p0: np.ndarray
    p1: np.ndarray
    r0: np.ndarray
    r1: np.ndarray

    @classmethod
    def empty(cls) -> Tubes:
        return cls(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0), np.zeros(0))

    @classmethod
    def from_path(cls, points: np.ndarray, radii: np.ndarray) -> Tubes:
        """Pieces joining consecutive ``points`` (m, 3) with ``radii`` (m,) at the points."""
        pts = np.asarray(points, dtype=float)
        rad = np.asarray(radii, dtype=float)
        return cls(pts[:-1], pts[1:], rad[:-1], rad[1:])

    def __len__(self) -> int:
        return len(self.r0)

    def __add__(self, other: Tubes) -> Tubes:
        return Tubes(np.concatenate([self.p0, other.p0]), np.concatenate([self.p1, other.p1]),
                     np.concatenate([self.r0, other.r0]), np.concatenate([self.r1, other.r1]))

    def widened(self, extra_mm: np.ndarray | float) -> Tubes:
        """The same pieces with radii grown by ``extra_mm`` (walls around a lumen)."""
        return Tubes(self.p0, self.p1, self.r0 + extra_mm, self.r1 + extra_mm)

    def select(self, keep: np.ndarray) -> Tubes:
        return Tubes(self.p0[keep], self.p1[keep], self.r0[keep], self.r1[keep])


def draw_tubes(volume: np.ndarray, frame: Frame, tubes: Tubes, hu: float, *,
               within: np.ndarray | None = None, clear: np.ndarray | None = None,
               strength: np.ndarray | None = None) -> None:
    """Blend ``hu`` into ``volume`` where the tubes are (in place).

    Parameters
    ----------
    volume : float32 (z, y, x) HU volume.
    frame : the grid.
    tubes : the pieces to draw.
    hu : intensity of the tube, HU.
    within : optional bool mask; the tubes are drawn only there (e.g. the lungs).
    clear : optional bool mask set to False where a tube covers a voxel by half or more.
    strength : optional float (z, y, x) factor on the blend weight (e.g. only inside a lesion).
    """
    for i in range(len(tubes)):
        found = _piece_weight(frame, tubes.p0[i], tubes.p1[i], tubes.r0[i], tubes.r1[i])
        if found is None:
            continue
        box, weight = found
        if within is not None:
            weight = weight * within[box]
        if strength is not None:
            weight = weight * strength[box]
        region = volume[box]
        region += weight * (np.float32(hu) - region)
        if clear is not None:
            clear[box] &= weight < 0.5


def tubes_weight(frame: Frame, tubes: Tubes, box: tuple[slice, slice, slice]) -> np.ndarray:
    """Union (maximum) of the tubes' blend weights on the voxels of ``box``, float32."""
    out = np.zeros(tuple(s.stop - s.start for s in box), dtype=np.float32)
    for i in range(len(tubes)):
        found = _piece_weight(frame, tubes.p0[i], tubes.p1[i], tubes.r0[i], tubes.r1[i])
        if found is None:
            continue
        piece_box, weight = found
        lo = [max(a.start, b.start) for a, b in zip(piece_box, box)]
        hi = [min(a.stop, b.stop) for a, b in zip(piece_box, box)]
        if any(h <= l for l, h in zip(lo, hi)):
            continue
        src = weight[tuple(slice(l - p.start, h - p.start) for l, h, p in zip(lo, hi, piece_box))]
        dst = out[tuple(slice(l - b.start, h - b.start) for l, h, b in zip(lo, hi, box))]
        np.maximum(dst, src, out=dst)
    return out


def _piece_weight(frame: Frame, p0: np.ndarray, p1: np.ndarray, r0: float, r1: float
                  ) -> tuple[tuple[slice, slice, slice], np.ndarray] | None:
    """Box and blend weight (0..1, float32) of one tapered piece."""
    rmax = max(r0, r1)
    pad = np.array([rmax + frame.slab_mm / 2.0, rmax + 1.5 * frame.dx, rmax + 1.5 * frame.dx])
    box = frame.box(np.minimum(p0, p1) - pad, np.maximum(p0, p1) + pad)
    if box is None:
        return None
    z, y, x = frame.box_coords(box)
    p0 = np.asarray(p0, dtype=np.float32)
    axis = np.asarray(p1, dtype=np.float32) - p0
    length = float(np.linalg.norm(axis))
    if length < 1e-6:
        axis, length = np.array([1.0, 0.0, 0.0], dtype=np.float32), 0.0
    unit = axis / max(length, 1e-6)
    dist2, t = _slab_distance2(frame, z - p0[0], y - p0[1], x - p0[2], unit, length)
    radius = np.float32(r0) + t * np.float32(r1 - r0)
    weight = np.clip((radius - np.sqrt(dist2)) / np.float32(frame.dx) + 0.5, 0.0, 1.0)
    return box, (weight * _partial_volume(frame, unit, 0.5 * (r0 + r1))).astype(np.float32)


def _slab_distance2(frame: Frame, dz: np.ndarray, dy: np.ndarray, dx: np.ndarray,
                    unit: np.ndarray, length: float) -> tuple[np.ndarray, np.ndarray]:
    """Squared distance (mm²) from each voxel's slab to the piece, and the piece parameter t.

    The voxel is the vertical segment ``dz ± slab/2`` above the in-plane point
    (dy, dx), all relative to ``p0``. The point of the piece is found from the
    slab height nearest to the piece's line, then the distance from that
    point to the slab is measured.
    """
    uz, uy, ux = (np.float32(v) for v in unit)
    half = np.float32(frame.slab_mm / 2.0)
    side = dy * uy + dx * ux
    flat = max(1.0 - float(uz) * float(uz), 1e-6)
    height = np.clip(uz * side / np.float32(flat), dz - half, dz + half)
    if length > 0:
        t = np.clip((height * uz + side) / np.float32(length), 0.0, 1.0)
    else:
        t = np.zeros(np.broadcast_shapes(height.shape, side.shape), dtype=np.float32)
    reach = t * np.float32(length)
    qz = reach * uz
    gap_z = qz - np.clip(qz, dz - half, dz + half)
    gap_y = dy - reach * uy
    gap_x = dx - reach * ux
    return gap_z * gap_z + gap_y * gap_y + gap_x * gap_x, t


def _partial_volume(frame: Frame, unit: np.ndarray, radius: float) -> float:
    """Share of a slice's thickness that a piece of this direction and radius fills (0..1).

    Measured against the written slice thickness ``dz``: the anatomy is only
    squeezed along z, the scanner's slices are as thin as their spacing.
    """
    flat = float(np.sqrt(max(1.0 - float(unit[0]) ** 2, 1e-6)))
    height = 2.0 * radius / flat
    return float(min(1.0, height / frame.dz))
