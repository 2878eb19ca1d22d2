"""Implicit shapes of the chest: body, cavity, heart, diaphragm, apices, lungs.

Every function takes chest coordinates ``z, y, x`` (mm) that broadcast
against each other: a slice passes a scalar ``z`` with ``y`` (n, 1) and ``x``
(1, n); the vessel grower passes point arrays. Depth functions return an
approximate signed distance in mm, positive inside.
"""
from __future__ import annotations

import numpy as np

from core_models.phantom.anatomy_params import Anatomy

#: gap (mm) between the lungs and the chest wall, heart and spine (pleura, fat)
PLEURA_MM = 1.5


def smoothstep(lo: float, hi: float, value: np.ndarray | float) -> np.ndarray:
    """0 below ``lo``, 1 above ``hi``, a smooth ramp between."""
    t = np.clip((np.asarray(value, dtype=np.float32) - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def ellipse_depth(dx: np.ndarray, dy: np.ndarray, a: np.ndarray | float,
                  b_ant: np.ndarray | float, b_post: np.ndarray | float) -> np.ndarray:
    """Depth (mm, + inside) of offsets (dx, dy) in an ellipse with front/back half-depths."""
    b = np.where(dy < 0, b_ant, b_post)
    q = np.sqrt((dx / a) ** 2 + (dy / b) ** 2)
    r = np.sqrt(dx * dx + dy * dy)
    rim = np.where(q > 1e-6, r / np.maximum(q, 1e-6), np.minimum(a, b))
    return rim * (1.0 - q)


def body_axes(anat: Anatomy, z: np.ndarray | float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Half-width and front/back half-depths (mm) of the body at height ``z``."""
    narrow = 1.0 - 0.07 * smoothstep(200.0, 280.0, z)
    return anat.body_a * narrow, anat.body_b_ant * narrow, anat.body_b_post * (0.5 + 0.5 * narrow)


def cavity_axes(anat: Anatomy, z: np.ndarray | float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Half-width and front/back half-depths (mm) of the thoracic cavity at height ``z``."""
    top = smoothstep(150.0, 285.0, z)
    return anat.cav_a * (1.0 - 0.38 * top), anat.cav_b_ant * (1.0 - 0.2 * top), anat.cav_b_post * (1.0 - 0.12 * top)


def cavity_depth(anat: Anatomy, z: np.ndarray | float, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Depth (mm) inside the rib cage."""
    a, b_ant, b_post = cavity_axes(anat, z)
    return ellipse_depth(x, y - anat.cav_cy, a, b_ant, b_post)


def heart_depth(anat: Anatomy, z: np.ndarray | float, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Depth (mm) inside the heart (an ellipsoid turned towards the front left)."""
    cx, cy, cz = anat.heart_c
    rx, ry, rz = anat.heart_r
    c, s = np.cos(anat.heart_angle), np.sin(anat.heart_angle)
    u = c * (x - cx) - s * (y - cy)
    v = s * (x - cx) + c * (y - cy)
    w = np.asarray(z, dtype=np.float32) - cz
    q = np.sqrt((u / rx) ** 2 + (v / ry) ** 2 + (w / rz) ** 2)
    r = np.sqrt(u * u + v * v + w * w)
    rim = np.where(q > 1e-6, r / np.maximum(q, 1e-6), min(rx, ry, rz))
    return rim * (1.0 - q)


def side_of(anat: Anatomy, x: np.ndarray) -> np.ndarray:
    """+1 on the patient's left, -1 on the right of the mediastinal midline."""
    return np.where(np.asarray(x) >= 0.0, 1.0, -1.0).astype(np.float32)


def dome_height(anat: Anatomy, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Height (mm) of the diaphragm under (y, x): domes peak medially, recesses dip behind."""
    side = side_of(anat, x)
    a, b_ant, b_post = cavity_axes(anat, 100.0)
    dx = (x - side * 0.42 * a) / a
    dy = y - (anat.cav_cy - 0.1 * b_ant)
    fall = dx * dx + (dy / np.where(dy < 0, b_ant, b_post)) ** 2
    back = np.clip(dy / b_post, 0.0, None) ** 2
    return anat.dome_peak(side) - anat.dome_drop * fall - anat.dome_drop_post * back


def apex_depth(anat: Anatomy, z: np.ndarray | float, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Depth (mm) inside the lung apex, a paraboloid (large far below the apex)."""
    side = side_of(anat, x)
    below = np.clip(anat.apex_z - np.asarray(z, dtype=np.float32), 0.0, None)
    radius = 8.0 * np.sqrt(below)
    a_top, _, b_top = cavity_axes(anat, anat.apex_z)
    cx = side * 0.5 * a_top
    cy = anat.cav_cy + 0.05 * b_top
    return radius - np.sqrt((x - cx) ** 2 + (y - cy) ** 2)


def mediastinum_halfwidth(anat: Anatomy, z: np.ndarray | float) -> np.ndarray:
    """Half-width (mm) of the band between the lungs; wider in the upper mediastinum."""
    hump = np.exp(-0.5 * ((np.asarray(z, dtype=np.float32) - 215.0) / 30.0) ** 2)
    return anat.med_w + 6.0 * hump


def spine_depth(anat: Anatomy, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Depth (mm) inside the vertebral body (a circle)."""
    return anat.vb_r - np.sqrt(x * x + (y - anat.vb_y) ** 2)


def spine_clearance(anat: Anatomy, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Distance (mm, + outside) from the vertebral body and the muscles behind it."""
    body = -spine_depth(anat, y, x) - 4.0
    behind = -ellipse_depth(x, y - anat.vb_y - 30.0, anat.vb_r + 9.0, 30.0, 40.0) - 1.0
    return np.minimum(body, behind)


def lung_depth(anat: Anatomy, z: np.ndarray | float, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Approximate depth (mm) inside either lung; <= 0 outside the lungs.

    The lungs fill the rib cage above the diaphragm and below the apices,
    leaving room for the mediastinum, the heart and the spine.
    """
    z_arr = np.asarray(z, dtype=np.float32)
    depth = cavity_depth(anat, z, y, x) - PLEURA_MM
    depth = np.minimum(depth, -heart_depth(anat, z, y, x) - 3.0)
    depth = np.minimum(depth, np.abs(x) - mediastinum_halfwidth(anat, z))
    depth = np.minimum(depth, 0.8 * (z_arr - dome_height(anat, y, x)))
    depth = np.minimum(depth, apex_depth(anat, z, y, x))
    return np.minimum(depth, spine_clearance(anat, y, x))


class LungPlane:
    """:func:`lung_depth` on one in-plane grid, with the parts that do not change with z cached.

    Parameters
    ----------
    anat : the patient.
    y : (n, 1) and x : (1, n) in-plane coordinates, mm.
    """

    def __init__(self, anat: Anatomy, y: np.ndarray, x: np.ndarray) -> None:
        self.anat, self.y, self.x = anat, y, x
        self.dome = dome_height(anat, y, x)
        self.spine = spine_clearance(anat, y, x)
        self.abs_x = np.abs(x)

    def depth(self, z: float, cavity: np.ndarray, heart: np.ndarray) -> np.ndarray:
        """Lung depth (mm) on slice height ``z`` given its cavity and heart depths (mm)."""
        depth = np.minimum(cavity - PLEURA_MM, -heart - 3.0)
        depth = np.minimum(depth, self.abs_x - mediastinum_halfwidth(self.anat, z))
        depth = np.minimum(depth, 0.8 * (z - self.dome))
        depth = np.minimum(depth, apex_depth(self.anat, z, self.y, self.x))
        return np.minimum(depth, self.spine)
