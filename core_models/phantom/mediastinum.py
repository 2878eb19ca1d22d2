"""Great vessels and central airways as tube paths, and the hila they lead to.

Positions follow the patient's anatomy (trachea, spine, heart); paths are
quadratic Bézier curves through a few landmarks. Points are (z, y, x) chest mm.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core_models.phantom.anatomy_params import Anatomy
from core_models.phantom.thorax import cavity_axes
from core_models.phantom.tubes import Tubes

#: height (mm) above which tubes run out of the top of the modelled chest
TOP_MM = 300.0


@dataclass(frozen=True)
class Hilum:
    """Where a lung's vessel or airway tree starts: point (z, y, x) mm, radius mm, side (+1 left)."""

    point: np.ndarray
    radius: float
    side: float


def bezier(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, step_mm: float = 6.0) -> np.ndarray:
    """Points along the quadratic Bézier curve p0 -> p2 pulled towards p1, about ``step_mm`` apart."""
    p0, p1, p2 = (np.asarray(p, dtype=float) for p in (p0, p1, p2))
    span = np.linalg.norm(p1 - p0) + np.linalg.norm(p2 - p1)
    t = np.linspace(0.0, 1.0, max(2, int(np.ceil(span / step_mm)) + 1))[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t * t * p2


def line(p0: np.ndarray, p1: np.ndarray, step_mm: float = 8.0) -> np.ndarray:
    """Points along a straight segment, about ``step_mm`` apart."""
    return bezier(p0, (np.asarray(p0, float) + np.asarray(p1, float)) / 2.0, p1, step_mm)


def _tube(points: np.ndarray, r_start: float, r_end: float) -> Tubes:
    return Tubes.from_path(points, np.linspace(r_start, r_end, len(points)))


def aorta_points(anat: Anatomy) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Landmarks of the aorta: root, top of the ascending part, top of the descending part."""
    hx, hy, hz = anat.heart_c
    rx, ry, rz = anat.heart_r
    _, b_ant, _ = cavity_axes(anat, 180.0)
    root = np.array([hz + 0.3 * rz, hy - 0.05 * ry, hx - 0.45 * rx])
    asc_top = np.array([anat.carina_z + 4.0, anat.cav_cy - 0.3 * b_ant, -6.0])
    desc_top = np.array([anat.carina_z + 4.0, anat.vb_y - 0.7 * anat.vb_r, anat.vb_r + 0.7 * anat.aorta_r])
    return root, asc_top, desc_top


def great_vessels(anat: Anatomy) -> Tubes:
    """Aorta, pulmonary trunk and arteries, superior vena cava, arch branches, oesophagus."""
    root, asc_top, desc_top = aorta_points(anat)
    r_asc, r_desc = anat.aorta_r + 1.5, anat.aorta_r - 1.0
    arch_top = np.array([anat.carina_z + 30.0, 0.5 * (asc_top[1] + desc_top[1]), 12.0])
    desc_low = np.array([-10.0, anat.vb_y - anat.vb_r - r_desc + 5.0, 6.0])
    tubes = _tube(line(root, asc_top), r_asc, r_asc)
    tubes += _tube(bezier(asc_top, arch_top, desc_top), r_asc, r_desc)
    tubes += _tube(line(desc_top, desc_low, 10.0), r_desc, r_desc - 1.5)
    tubes += _pulmonary_arteries(anat, asc_top)
    svc_x = asc_top[2] - r_asc - 11.0
    tubes += _tube(line([anat.heart_c[2] + 0.45 * anat.heart_r[2], asc_top[1] + 6.0, svc_x],
                        [TOP_MM, asc_top[1] + 4.0, svc_x - 6.0]), 10.0, 9.0)
    for x_arch, x_top, radius in ((-8.0, -26.0, 6.5), (3.0, 8.0, 5.0), (14.0, 34.0, 5.5)):
        start = np.array([anat.carina_z + 34.0, arch_top[1], x_arch])
        tubes += _tube(line(start, [TOP_MM, arch_top[1] - 4.0, x_top]), radius, radius)
    tx, ty = anat.trachea_xy
    oes_top = [TOP_MM, ty + anat.trachea_r + 8.0, tx + 6.0]
    oes_low = [30.0, anat.vb_y - anat.vb_r - 10.0, 14.0]
    return tubes + _tube(line(oes_top, oes_low, 10.0), 7.0, 7.0)


def _pulmonary_arteries(anat: Anatomy, asc_top: np.ndarray) -> Tubes:
    hx, hy, hz = anat.heart_c
    rx, ry, rz = anat.heart_r
    start = np.array([hz + 0.55 * rz, hy - 0.4 * ry, hx + 0.05 * rx])
    split = np.array([anat.carina_z - 20.0, asc_top[1] + 14.0, 16.0])
    tubes = _tube(line(start, split), 13.0, 12.5)
    for hil in pulmonary_artery_hila(anat):
        bend = 0.5 * (split + hil.point) + np.array([4.0, 6.0, 0.0])
        tubes += _tube(bezier(split, bend, hil.point), 11.0, hil.radius)
    return tubes


def pulmonary_artery_hila(anat: Anatomy) -> list[Hilum]:
    """Ends of the right and left pulmonary arteries at the hila."""
    tx, ty = anat.trachea_xy
    right = np.array([anat.carina_z - 30.0, ty - 4.0, -(anat.med_w + 36.0)])
    left = np.array([anat.carina_z - 22.0, ty + 6.0, anat.med_w + 40.0])
    return [Hilum(right, 8.0, -1.0), Hilum(left, 8.0, 1.0)]


def pulmonary_vein_hila(anat: Anatomy) -> list[Hilum]:
    """Where the pulmonary veins leave the lungs towards the left atrium."""
    hx, hy, hz = anat.heart_c
    z = hz + 0.45 * anat.heart_r[2]
    y = hy + 0.55 * anat.heart_r[1]
    return [Hilum(np.array([z, y, -(anat.med_w + 42.0)]), 6.0, -1.0),
            Hilum(np.array([z + 6.0, y, anat.med_w + 46.0]), 6.0, 1.0)]


def central_airways(anat: Anatomy) -> tuple[Tubes, list[Hilum]]:
    """Trachea and main bronchi (lumen radii), and the bronchus ends where lobar bronchi start."""
    tx, ty = anat.trachea_xy
    carina = np.array([anat.carina_z, ty + 2.0, tx])
    tubes = _tube(line([TOP_MM, ty, tx], carina, 10.0), anat.trachea_r, anat.trachea_r)
    right = np.array([anat.carina_z - 24.0, ty + 6.0, -(anat.med_w + 26.0)])
    left = np.array([anat.carina_z - 34.0, ty + 12.0, anat.med_w + 32.0])
    tubes += _tube(line(carina, right, 5.0), 7.0, 6.0)
    tubes += _tube(line(carina, left, 5.0), 6.0, 5.2)
    return tubes, [Hilum(right, 5.5, -1.0), Hilum(left, 5.0, 1.0)]
