"""The anatomy of one phantom patient: sizes and positions drawn from the seed.

All lengths are millimetres in the chest frame (see :mod:`core_models.phantom.frame`):
x to the patient's left, y to the back, z (height) from the upper abdomen (0)
to the thoracic inlet (280). Intensities are Hounsfield units.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Anatomy:
    """Scalar parameters of one patient's chest (mm, HU)."""

    # body outline (ellipse; separate half-depths in front of and behind its centre)
    body_cy: float
    body_a: float
    body_b_ant: float
    body_b_post: float
    fat_mm: float
    muscle_mm: float
    # thoracic cavity (inside the ribs)
    cav_a: float
    cav_b_ant: float
    cav_b_post: float
    # spine and ribs
    vb_r: float
    vb_y: float
    vert_period: float
    vert_phase: float
    rib_period: float
    rib_slope: float
    rib_phase: float
    # mediastinum, heart, diaphragm, apices
    med_w: float
    heart_c: tuple[float, float, float]
    heart_r: tuple[float, float, float]
    heart_angle: float
    dome_z: tuple[float, float]
    dome_drop: float
    dome_drop_post: float
    apex_z: float
    # airways and great vessels
    carina_z: float
    trachea_r: float
    trachea_xy: tuple[float, float]
    aorta_r: float
    # intensities
    lung_hu: float
    lung_gradient_hu: float
    fat_hu: float
    muscle_hu: float
    gas_bubble: bool

    @property
    def cav_cy(self) -> float:
        return self.body_cy

    def dome_peak(self, side: np.ndarray | float) -> np.ndarray | float:
        """Height (mm) of the diaphragm dome of the left (+1) or right (-1) side."""
        return np.where(np.asarray(side) > 0, self.dome_z[1], self.dome_z[0])


def sample_anatomy(rng: np.random.Generator, fov_mm: float) -> Anatomy:
    """Draw one patient's anatomy that fits a ``fov_mm`` field of view."""
    u = rng.uniform
    room = 0.46 * fov_mm
    body_a = min(u(138.0, 165.0), room)
    body_b_ant = min(u(98.0, 118.0), 0.33 * fov_mm)
    body_b_post = min(body_b_ant * u(0.95, 1.08), 0.36 * fov_mm)
    fat, muscle = u(5.0, 18.0), u(7.0, 11.0)
    cav_a = body_a - fat - muscle - 4.0
    cav_b_ant = body_b_ant - fat - muscle - 2.0
    cav_b_post = body_b_post - fat - u(16.0, 24.0)
    body_cy = u(-12.0, 0.0)
    vb_r = u(15.0, 19.0)
    vb_y = body_cy + cav_b_post - vb_r - u(10.0, 16.0)
    heart_c = (u(10.0, 22.0), body_cy - u(0.3, 0.45) * cav_b_ant, 0.0)
    heart_r = (u(48.0, 58.0), u(38.0, 46.0), u(45.0, 55.0))
    dome_r = u(68.0, 86.0)
    dome_l = dome_r - u(6.0, 20.0)
    heart_c = (heart_c[0], heart_c[1], dome_l + 0.55 * heart_r[2])
    carina_z = u(182.0, 196.0)
    trachea_r = u(8.0, 10.5)
    trachea_y = vb_y - vb_r - trachea_r - u(14.0, 18.0)
    return Anatomy(
        body_cy=body_cy, body_a=body_a, body_b_ant=body_b_ant, body_b_post=body_b_post,
        fat_mm=fat, muscle_mm=muscle, cav_a=cav_a, cav_b_ant=cav_b_ant, cav_b_post=cav_b_post,
        vb_r=vb_r, vb_y=vb_y, vert_period=u(22.0, 27.0), vert_phase=u(0.0, 1.0),
        rib_period=u(21.0, 25.0), rib_slope=u(28.0, 38.0), rib_phase=u(0.0, 1.0),
        med_w=u(6.0, 10.0), heart_c=heart_c, heart_r=heart_r, heart_angle=np.deg2rad(u(25.0, 40.0)),
        dome_z=(dome_r, dome_l), dome_drop=u(65.0, 85.0), dome_drop_post=u(20.0, 35.0),
        apex_z=u(258.0, 272.0), carina_z=carina_z, trachea_r=trachea_r,
        trachea_xy=(u(-3.0, 3.0), trachea_y), aorta_r=u(13.0, 16.0),
        lung_hu=u(-890.0, -860.0), lung_gradient_hu=u(10.0, 35.0),
        fat_hu=u(-110.0, -85.0), muscle_hu=u(35.0, 55.0), gas_bubble=bool(rng.random() < 0.6),
    )
