"""Paint the static anatomy of one axial slice: body wall, bones, mediastinum, lungs.

Tubular structures (airways, great vessels, pulmonary vessels) are drawn
afterwards in 3-D by :mod:`core_models.phantom.tubes`; lesions after those.
"""
from __future__ import annotations

import numpy as np

from core_models.phantom import thorax
from core_models.phantom.anatomy_params import Anatomy
from core_models.phantom.frame import Frame
from core_models.phantom.noise import SmoothField, fine_texture

AIR_HU = -1000.0
#: thickness (mm) of the rib shell outside the cavity
RIB_MM = 7.0
#: half-height (mm) of a rib
RIB_HALF_MM = 4.5


class SlicePainter:
    """Paints slice after slice of one patient's anatomy.

    Parameters
    ----------
    anat : the patient.
    frame : the grid.
    rng : random generator for the shape wobble and the tissue textures.
    """

    def __init__(self, anat: Anatomy, frame: Frame, rng: np.random.Generator) -> None:
        self.anat, self.frame, self.rng = anat, frame, rng
        self.x = frame.x.reshape(1, -1)
        self.y = frame.y.reshape(-1, 1)
        self.dy = self.y - anat.cav_cy
        self.radius = np.sqrt(self.x ** 2 + self.dy ** 2)
        self.sin = self.dy / np.maximum(self.radius, 1e-3)
        self.cos = self.x / np.maximum(self.radius, 1e-3)
        self.wobble = SmoothField(rng, frame.z, frame.y, frame.x, 18.0)
        self.texture = SmoothField(rng, frame.z, frame.y, frame.x, (6.0, 5.0, 5.0))
        self.table = _table_mask(anat, self.x, self.y)
        self.lung_plane = thorax.LungPlane(anat, self.y, self.x)
        self.spine_parts = _spine_parts(anat, self.y, self.x)

    def paint(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """HU plane (float32) and lung mask (bool) of slice ``k``."""
        z = float(self.frame.z[k])
        plane = np.full((self.frame.n, self.frame.n), AIR_HU, dtype=np.float32)
        plane[self.table] = 60.0
        texture = self.texture.slice(k)
        self._body(plane, z, texture)
        cavity_depth = thorax.cavity_depth(self.anat, z, self.y, self.x)
        cavity = cavity_depth > 0
        self._ribs(plane, z)
        self._sternum(plane, z)
        plane[cavity] = self.anat.fat_hu + 10.0 + 6.0 * texture[cavity]
        self._abdomen(plane, z, cavity, texture)
        heart = self._heart(plane, z)
        self._spine(plane, z)
        depth = self.lung_plane.depth(z, cavity_depth, heart) + 2.5 * self.wobble.slice(k)
        lung = cavity & (depth > 0)
        self._lungs(plane, z, lung, texture)
        return plane, lung

    def _body(self, plane: np.ndarray, z: float, texture: np.ndarray) -> None:
        a, b_ant, b_post = thorax.body_axes(self.anat, z)
        dy = self.y - self.anat.body_cy
        body = thorax.ellipse_depth(self.x, dy, a, b_ant, b_post)
        inside = body > 0
        plane[inside] = self.anat.fat_hu + 8.0 * texture[inside]
        fat = self.anat.fat_mm
        muscle = thorax.ellipse_depth(self.x, dy, a - fat, b_ant - fat, b_post - 0.6 * fat) > 0
        plane[muscle] = self.anat.muscle_hu + 6.0 * texture[muscle]
        plane[(body > 0) & (body < 1.2)] = 20.0

    def _rib_offset(self, z: float) -> np.ndarray:
        """Distance (mm) outside the cavity boundary along the ray from its centre."""
        a, b_ant, b_post = thorax.cavity_axes(self.anat, z)
        b = np.where(self.dy < 0, b_ant, b_post)
        rim = 1.0 / np.sqrt((self.cos / a) ** 2 + (self.sin / b) ** 2)
        return self.radius - rim

    def _ribs(self, plane: np.ndarray, z: float) -> None:
        anat = self.anat
        offset = self._rib_offset(z) - 0.8
        shell = (offset > 0) & (offset < RIB_MM)
        phase = (z - anat.rib_slope * self.sin) / anat.rib_period + anat.rib_phase
        gap = np.abs(phase - np.round(phase)) * anat.rib_period
        rib = shell & (gap < RIB_HALF_MM)
        rib &= ~((np.abs(self.x) < 16.0) & (self.dy < 0))
        rib &= ~((np.abs(self.x) < anat.vb_r + 8.0) & (self.dy > 0))
        edge = np.maximum(np.abs(2.0 * offset / RIB_MM - 1.0), gap / RIB_HALF_MM) ** 4
        cartilage = self.sin < -0.75
        hu = np.where(cartilage, 120.0, 260.0 + 440.0 * edge)
        plane[rib] = hu[rib]

    def _sternum(self, plane: np.ndarray, z: float) -> None:
        if not 105.0 < z < 245.0:
            return
        _, b_ant, _ = thorax.cavity_axes(self.anat, z)
        cy = self.anat.cav_cy - b_ant - 5.0
        q = np.sqrt((self.x / 15.0) ** 2 + ((self.y - cy) / 6.0) ** 2)
        plane[q < 1.0] = 320.0
        plane[(q > 0.75) & (q < 1.0)] = 650.0

    def _abdomen(self, plane: np.ndarray, z: float, cavity: np.ndarray, texture: np.ndarray) -> None:
        dome = self.lung_plane.dome
        below = cavity & (z < dome)
        if not below.any():
            return
        a, b_ant, _ = thorax.cavity_axes(self.anat, z)
        liver = self.x < 0.2 * a - 0.5 * self.dy
        spleen = (self.x > 0) & (self.dy > 0.2 * b_ant)
        hu = np.where(liver, 58.0, np.where(spleen, 48.0, 30.0)) + 5.0 * texture
        plane[below] = hu[below]
        if self.anat.gas_bubble:
            top = dome - z
            bubble = below & (top < 18.0) & ((self.x - 0.45 * a) ** 2 + (self.dy + 0.2 * b_ant) ** 2 < 28.0 ** 2)
            plane[bubble] = -990.0

    def _heart(self, plane: np.ndarray, z: float) -> np.ndarray:
        """Paint the heart in its pericardial fat; return the heart depth (mm) on the slice."""
        depth = np.full(plane.shape, -100.0, dtype=np.float32)
        cx, cy, cz = self.anat.heart_c
        reach = max(self.anat.heart_r[:2]) + 10.0
        if abs(z - cz) >= self.anat.heart_r[2] + 10.0:
            return depth
        rows = np.nonzero(np.abs(self.y[:, 0] - cy) < reach)[0]
        cols = np.nonzero(np.abs(self.x[0] - cx) < reach)[0]
        if len(rows) == 0 or len(cols) == 0:
            return depth
        box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        depth[box] = thorax.heart_depth(self.anat, z, self.y[box[0]], self.x[:, box[1]])
        view, d = plane[box], depth[box]
        view[(d > -4.5) & (d <= -3.5)] = 30.0
        view[(d > -3.5) & (d <= 0)] = self.anat.fat_hu
        view[d > 0] = 42.0
        return depth

    def _spine(self, plane: np.ndarray, z: float) -> None:
        anat = self.anat
        body, posterior, canal = self.spine_parts
        disc = abs((z / anat.vert_period + anat.vert_phase) % 1.0 - 0.5) > 0.4
        plane[body > 0] = 90.0 if disc else 230.0
        if not disc:
            plane[(body > 0) & (body < 1.8)] = 650.0
        plane[posterior] = 520.0
        plane[canal] = 25.0

    def _lungs(self, plane: np.ndarray, z: float, lung: np.ndarray, texture: np.ndarray) -> None:
        if not lung.any():
            return
        anat = self.anat
        _, b_ant, b_post = thorax.cavity_axes(anat, z)
        back = np.clip((self.dy + b_ant) / (b_ant + b_post), 0.0, 1.0)
        fine = fine_texture(self.rng, plane.shape, 1.1 / self.frame.dx)
        hu = anat.lung_hu + anat.lung_gradient_hu * back + 20.0 * fine + 10.0 * texture
        plane[lung] = hu[lung]


def _spine_parts(anat: Anatomy, y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertebral body depth (mm), posterior arch/processes mask and spinal canal mask."""
    body = thorax.spine_depth(anat, y, x)
    canal_y = anat.vb_y + anat.vb_r + 8.0
    canal = np.sqrt(x ** 2 + (y - canal_y) ** 2)
    arch = (canal > 7.0) & (canal < 12.5) & (y > anat.vb_y + 0.6 * anat.vb_r)
    tip = min(canal_y + 32.0, anat.body_cy + 0.96 * anat.body_b_post - anat.fat_mm - 4.0)
    spinous = (np.abs(x) < 3.5) & (y > canal_y + 7.0) & (y < tip)
    transverse = _segment_distance(np.abs(x), y, (0.4 * anat.vb_r, canal_y - 2.0),
                                   (anat.vb_r + 13.0, canal_y + 9.0)) < 3.5
    return body, arch | spinous | transverse, canal <= 7.0

def _table_mask(anat: Anatomy, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The scanner couch: a shallow curved shell under the patient's back."""
    top = anat.body_cy + anat.body_b_post + 6.0 + 0.0006 * x * x
    return ((y - top > 0) & (y - top < 1.5) | (y - top > 14.0) & (y - top < 15.5)) & (np.abs(x) < 175.0)


def _segment_distance(x: np.ndarray, y: np.ndarray, a: tuple[float, float], b: tuple[float, float]) -> np.ndarray:
    """In-plane distance (mm) from points to the segment a-b (each (x, y) mm)."""
    ax, ay = a
    vx, vy = b[0] - ax, b[1] - ay
    t = np.clip(((x - ax) * vx + (y - ay) * vy) / (vx * vx + vy * vy), 0.0, 1.0)
    return np.sqrt((x - ax - t * vx) ** 2 + (y - ay - t * vy) ** 2)
