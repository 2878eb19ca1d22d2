"""The voxel grid of one phantom case and its anatomical ("virtual") coordinates.

Anatomy is modelled in millimetres at true size, in a chest frame whose
height axis runs from the upper abdomen (0 mm) to the thoracic inlet
(:data:`CHEST_HEIGHT_MM`). The scanned slab of ``slices x z_spacing`` mm is
mapped onto a window of that chest up to :data:`MAX_Z_SCALE` times taller,
so a short scan still shows much of the chest, compressed in z by
``z_scale`` (1-2); a slab taller than the chest keeps true size. In-plane,
x points to the patient's left and y to the back (LPS), the origin at the
centre of the field of view.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core_models.volume import IDENTITY_DIRECTION, Geometry

#: height of the modelled chest (upper abdomen to thoracic inlet), mm
CHEST_HEIGHT_MM = 280.0
#: the most the anatomy is compressed along z to fit the scanned slab
MAX_Z_SCALE = 2.0
#: chest height (mm) a short slab centres on: the hila
HILUM_HEIGHT_MM = 150.0


@dataclass(frozen=True)
class Frame:
    """Grid of one case: sizes, spacings and the chest-frame coordinates of voxel centres.

    Attributes
    ----------
    n : pixels per side of a slice.
    k : number of slices.
    dx : in-plane pixel spacing, mm.
    dz : slice spacing written to the file, mm.
    z_lo : chest height (mm) of the bottom edge of slice 0.
    slab_mm : chest height (mm) one slice covers (``dz * z_scale``).
    """

    n: int
    k: int
    dx: float
    dz: float
    z_lo: float
    slab_mm: float

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.k, self.n, self.n)

    @property
    def z_scale(self) -> float:
        """How many chest millimetres one written millimetre of z holds."""
        return self.slab_mm / self.dz

    @property
    def x(self) -> np.ndarray:
        """In-plane coordinates (mm) of pixel centres, patient right (-) to left (+)."""
        return ((np.arange(self.n) - (self.n - 1) / 2.0) * self.dx).astype(np.float32)

    @property
    def y(self) -> np.ndarray:
        """In-plane coordinates (mm) of pixel centres, anterior (-) to posterior (+)."""
        return self.x

    @property
    def z(self) -> np.ndarray:
        """Chest height (mm) of each slice centre; slice 0 is the lowest (feet)."""
        return (self.z_lo + (np.arange(self.k) + 0.5) * self.slab_mm).astype(np.float32)

    @property
    def z_hi(self) -> float:
        return self.z_lo + self.k * self.slab_mm

    def geometry(self) -> Geometry:
        """The written geometry: spacing (dz, dx, dx) mm, centred origin, identity direction."""
        origin = (-(self.n - 1) / 2.0 * self.dx, -(self.n - 1) / 2.0 * self.dx, -(self.k - 1) / 2.0 * self.dz)
        return Geometry((self.dz, self.dx, self.dx), tuple(float(v) for v in origin), IDENTITY_DIRECTION)

    def box(self, lo: np.ndarray, hi: np.ndarray) -> tuple[slice, slice, slice] | None:
        """Index slices (z, y, x) of the voxels whose centres lie in the mm box ``lo..hi``.

        ``lo`` and ``hi`` are (z, y, x) in chest millimetres; ``None`` when the
        box misses the grid.
        """
        kz0 = int(np.ceil((lo[0] - self.z_lo) / self.slab_mm - 0.5))
        kz1 = int(np.floor((hi[0] - self.z_lo) / self.slab_mm - 0.5)) + 1
        half = (self.n - 1) / 2.0
        iy0 = int(np.ceil(lo[1] / self.dx + half))
        iy1 = int(np.floor(hi[1] / self.dx + half)) + 1
        ix0 = int(np.ceil(lo[2] / self.dx + half))
        ix1 = int(np.floor(hi[2] / self.dx + half)) + 1
        kz0, iy0, ix0 = max(kz0, 0), max(iy0, 0), max(ix0, 0)
        kz1, iy1, ix1 = min(kz1, self.k), min(iy1, self.n), min(ix1, self.n)
        if kz0 >= kz1 or iy0 >= iy1 or ix0 >= ix1:
            return None
        return (slice(kz0, kz1), slice(iy0, iy1), slice(ix0, ix1))

    def box_coords(self, box: tuple[slice, slice, slice]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Broadcastable chest coordinates (z (k,1,1), y (1,n,1), x (1,1,n)) of a box, mm."""
        z = self.z[box[0]].reshape(-1, 1, 1)
        y = self.y[box[1]].reshape(1, -1, 1)
        x = self.x[box[2]].reshape(1, 1, -1)
        return z, y, x


def make_frame(size: int, slices: int, fov_mm: float, dz: float, rng: np.random.Generator) -> Frame:
    """Place a ``slices x dz`` mm slab in the chest frame.

    A short slab is stretched onto up to ``MAX_Z_SCALE`` times its height of
    chest and centred near the hila (with a random shift where room is left);
    a slab taller than the modelled chest keeps true size and overhangs it
    equally at both ends.
    """
    dx = fov_mm / size
    height = slices * dz
    z_scale = float(np.clip(CHEST_HEIGHT_MM / height, 1.0, MAX_Z_SCALE))
    covered = height * z_scale
    shift = rng.uniform(-20.0, 20.0)
    if covered >= CHEST_HEIGHT_MM:
        centre = CHEST_HEIGHT_MM / 2.0
    else:
        centre = float(np.clip(HILUM_HEIGHT_MM + shift, covered / 2.0, CHEST_HEIGHT_MM - covered / 2.0))
    return Frame(n=size, k=slices, dx=dx, dz=dz, z_lo=centre - covered / 2.0, slab_mm=covered / slices)
