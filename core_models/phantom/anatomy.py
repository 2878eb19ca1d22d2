"""Build the lesion-free chest of one phantom patient: HU volume and lung mask.

Slices are painted one by one (body wall, bones, mediastinum, lungs), then
the tubular anatomy is drawn in 3-D over them: great vessels, trachea and
main bronchi (which carve their space out of the lungs), and inside the
lungs the pulmonary vessel trees and the bronchial tree.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from core_models.phantom import mediastinum as med
from core_models.phantom.anatomy_params import Anatomy
from core_models.phantom.colonize import ColonyStyle, colonize, pipe_radii, scatter_points, tree_tubes
from core_models.phantom.frame import Frame
from core_models.phantom.slices import SlicePainter
from core_models.phantom.thorax import cavity_axes, lung_depth
from core_models.phantom.trees import DepthFn, TreeStyle, find_inside, first_directions, grow_tree
from core_models.phantom.tubes import Tubes, draw_tubes

BLOOD_HU = 42.0
WALL_HU = 20.0
AIR_HU = -1000.0

BRONCHUS_STYLE = TreeStyle(first_count=3, first_length=22.0, main_radius=(0.75, 0.85),
                           side_radius=(0.6, 0.72), min_radius=1.5, wander=0.08)


@dataclass
class Chest:
    """A lesion-free phantom chest.

    Attributes
    ----------
    volume : float32 (z, y, x) HU.
    lung : bool (z, y, x) lung mask (intrapulmonary vessels and small bronchi included).
    anat : the patient's parameters.
    frame : the grid.
    """

    volume: np.ndarray
    lung: np.ndarray
    anat: Anatomy
    frame: Frame


def build_chest(frame: Frame, anat: Anatomy, rng: np.random.Generator, *, vessels: bool = True) -> Chest:
    """Paint the slices, then draw the tubular anatomy (see the module docstring)."""
    volume = np.empty(frame.shape, dtype=np.float32)
    lung = np.empty(frame.shape, dtype=bool)
    painter = SlicePainter(anat, frame, rng)
    for k in range(frame.k):
        volume[k], lung[k] = painter.paint(k)
    chest = Chest(volume, lung, anat, frame)
    draw_central_structures(chest)
    if vessels:
        draw_vessel_trees(chest, rng)
    draw_bronchial_tree(chest, rng)
    return chest


def slab_depth(chest: Chest, margin_mm: float = 20.0) -> DepthFn:
    """Lung depth, cut to the scanned slab (plus a margin), for growing trees."""
    anat, lo, hi = chest.anat, chest.frame.z_lo - margin_mm, chest.frame.z_hi + margin_mm

    def depth(z: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        inside = lung_depth(anat, z, y, x)
        return np.minimum(inside, np.minimum(z - lo, hi - z))

    return depth


def draw_central_structures(chest: Chest) -> None:
    """Great vessels (blood), trachea and main bronchi (wall and air); they push the lungs aside."""
    vol, lung, frame, anat = chest.volume, chest.lung, chest.frame, chest.anat
    draw_tubes(vol, frame, _in_slab(med.great_vessels(anat), frame), BLOOD_HU, clear=lung)
    airways, _ = med.central_airways(anat)
    airways = _in_slab(airways, frame)
    draw_tubes(vol, frame, airways.widened(2.0), WALL_HU, clear=lung)
    draw_tubes(vol, frame, airways, AIR_HU, clear=lung)


def draw_vessel_trees(chest: Chest, rng: np.random.Generator) -> Tubes:
    """Pulmonary arteries and veins, grown from the hila to fill each lung (blood)."""
    style = _colony_style(chest.frame)
    tubes = Tubes.empty()
    hila = med.pulmonary_artery_hila(chest.anat) + med.pulmonary_vein_hila(chest.anat)
    for side in (-1.0, 1.0):
        depth = _one_side(slab_depth(chest), side)
        roots, stems = _roots(hila, side, depth)
        if not roots:
            continue
        lo, hi = _side_box(chest, side)
        points = scatter_points(rng, lo, hi, style.spacing, depth)
        nodes, parents = colonize(np.array(roots), points, style, depth)
        tubes += stems + tree_tubes(nodes, parents, pipe_radii(parents, style))
    draw_tubes(chest.volume, chest.frame, _in_slab(tubes, chest.frame), BLOOD_HU, within=chest.lung)
    return tubes


def _one_side(depth: DepthFn, side: float) -> DepthFn:
    def inside(z: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        return np.minimum(depth(z, y, x), side * x)

    return inside


def _roots(hila: list[med.Hilum], side: float, depth: DepthFn) -> tuple[list[np.ndarray], Tubes]:
    """Tree roots just inside the lung lateral of each hilum of ``side``, and stems to them."""
    roots, stems = [], Tubes.empty()
    for hilum in hila:
        if hilum.side != side:
            continue
        start = find_inside(hilum.point, np.array([0.0, 0.0, side]), 4.0, depth)
        if start is not None:
            roots.append(start)
            stems += Tubes(hilum.point[None], start[None], np.array([hilum.radius]), np.array([hilum.radius]))
    return roots, stems


def _side_box(chest: Chest, side: float) -> tuple[np.ndarray, np.ndarray]:
    """Box (z, y, x mm) around one lung within the scanned slab."""
    a, b_ant, b_post = (float(v) for v in cavity_axes(chest.anat, 100.0))
    cy = chest.anat.cav_cy
    x_lo, x_hi = (0.0, a) if side > 0 else (-a, 0.0)
    lo = np.array([chest.frame.z_lo - 10.0, cy - b_ant, x_lo])
    hi = np.array([chest.frame.z_hi + 10.0, cy + b_post, x_hi])
    return lo, hi


def _colony_style(frame: Frame) -> ColonyStyle:
    """Leaves no thinner than a fraction of a pixel (finer ones would not show)."""
    return ColonyStyle(leaf_radius=max(ColonyStyle.leaf_radius, 0.15 * frame.dx))


def draw_bronchial_tree(chest: Chest, rng: np.random.Generator) -> Tubes:
    """Lobar and segmental bronchi: a thin soft-tissue wall around air, inside the lungs."""
    depth = slab_depth(chest)
    style = _style_for(BRONCHUS_STYLE, chest.frame)
    _, hila = med.central_airways(chest.anat)
    tubes = Tubes.empty()
    for hilum in hila:
        tubes += _tree_from(hilum, style, 0.8 * hilum.radius, depth, rng)
    tubes = _in_slab(tubes, chest.frame)
    wall = 0.18 * np.maximum(tubes.r0, tubes.r1) + 0.4
    draw_tubes(chest.volume, chest.frame, tubes.widened(wall), WALL_HU, within=chest.lung)
    draw_tubes(chest.volume, chest.frame, tubes, AIR_HU, within=chest.lung)
    return tubes


def _tree_from(hilum: med.Hilum, style: TreeStyle, radius: float, depth: DepthFn,
               rng: np.random.Generator) -> Tubes:
    """A tree rooted at the first point lateral of ``hilum`` that lies well inside the lung."""
    start = find_inside(hilum.point, np.array([0.0, 0.0, hilum.side]), radius + 2.0, depth)
    directions = first_directions(rng, style.first_count, hilum.side, style.first_spread)
    if start is None:
        return Tubes.empty()
    stem = Tubes(hilum.point[None], start[None], np.array([hilum.radius]), np.array([radius]))
    return stem + grow_tree(rng, start, radius, directions, style, depth)


def _style_for(style: TreeStyle, frame: Frame) -> TreeStyle:
    """Skip branches far below a pixel (they would not show) to save time on coarse grids."""
    floor = max(style.min_radius, 0.15 * frame.dx)
    return replace(style, min_radius=floor)


def _in_slab(tubes: Tubes, frame: Frame) -> Tubes:
    """Only the pieces that can touch the scanned slab."""
    if not len(tubes):
        return tubes
    reach = np.maximum(tubes.r0, tubes.r1) + frame.slab_mm
    low = np.minimum(tubes.p0[:, 0], tubes.p1[:, 0]) - reach
    high = np.maximum(tubes.p0[:, 0], tubes.p1[:, 0]) + reach
    return tubes.select((high >= frame.z_lo) & (low <= frame.z_hi))
