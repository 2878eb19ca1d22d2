"""Draw planned lesions into the chest and label exactly where they show.

Each lesion is an irregular blob: an ellipsoid whose surface is moved by
smooth noise, with a blended edge ``edge_mm`` wide. Its blend weight ``w``
(0..1) mixes the lesion's intensity into the lung, and only ever makes a
voxel denser (vessels stay visible through ground glass). Labels go where
``w >= 0.5`` inside the lesion's own lung: ground glass 1, consolidation 2, and
consolidation wins where they meet.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from core_models.labels import CONSOLIDATION, GGO
from core_models.phantom.anatomy_params import Anatomy
from core_models.phantom.frame import Frame
from core_models.phantom.lesion_plan import GGO as GGO_KIND
from core_models.phantom.lesion_plan import Lesion, lobe_depth
from core_models.phantom.noise import box_field
from core_models.phantom.trees import TreeStyle, grow_tree
from core_models.phantom.tubes import tubes_weight

#: weight from which a voxel counts as lesion
LABEL_WEIGHT = 0.5
BRONCHOGRAM_HU = -930.0
#: smallest consolidation (mean radius, mm) that shows air bronchograms
MIN_BRONCHOGRAM_LESION_MM = 12.0
BRONCHOGRAM_STYLE = TreeStyle(first_count=4, first_length=12.0, min_radius=0.6, max_generations=5,
                              step_mm=3.0, wander=0.06, pull=0.1, turn_radius=99.0)


@dataclass
class Canvas:
    """What lesions are drawn into: HU volume, labels, lung mask (all (z, y, x), full size)."""

    volume: np.ndarray
    labels: np.ndarray
    lung: np.ndarray
    frame: Frame
    anat: Anatomy


def draw_lesions(canvas: Canvas, lesions: list[Lesion], rng: np.random.Generator) -> list[dict]:
    """Draw all lesions (ground glass first) and return one fact dict per lesion."""
    order = sorted(range(len(lesions)), key=lambda i: lesions[i].kind != GGO_KIND)
    facts: list[dict] = [{} for _ in lesions]
    for i in order:
        facts[i] = _draw_one(canvas, lesions[i], rng)
    return facts


def _draw_one(canvas: Canvas, lesion: Lesion, rng: np.random.Generator) -> dict:
    facts = {"kind": lesion.kind, "side": "left" if lesion.side > 0 else "right", "lobe": lesion.lobe or None,
             "centre_mm": [round(float(v), 1) for v in lesion.centre],
             "radii_mm": [round(float(v), 1) for v in lesion.radii], "level_hu": round(lesion.level_hu, 1),
             "crazy_paving": lesion.crazy_paving, "air_bronchograms": lesion.bronchogram, "voxels": 0}
    found = lesion_field(canvas, lesion, rng)
    if found is None:
        return facts
    box, signed = found
    _, _, x = canvas.frame.box_coords(box)
    lung = canvas.lung[box] & (lesion.side * x > 0)
    if lesion.kind == GGO_KIND:
        weight = _weight(signed, lesion.edge_mm, lung)
        level = lesion.level_hu + 70.0 * _texture(canvas, box, rng, 3.0) + 50.0 * _texture(canvas, box, rng, 8.0)
        if lesion.crazy_paving:
            level += 160.0 * _reticulation(canvas, box, rng)
        facts["voxels"] = _apply(canvas, box, weight, level, GGO)
        return facts
    if lesion.rim_mm > 0:
        halo = _weight(signed + lesion.rim_mm, 3.0, lung)
        _apply(canvas, box, halo, rng.uniform(-560.0, -420.0) + 40.0 * _texture(canvas, box, rng, 4.0), GGO)
    weight = _weight(signed, lesion.edge_mm, lung)
    level = lesion.level_hu + 25.0 * _texture(canvas, box, rng, 4.0)
    facts["voxels"] = _apply(canvas, box, weight, level, CONSOLIDATION)
    facts["air_bronchograms"] = lesion.bronchogram and lesion.mean_radius >= MIN_BRONCHOGRAM_LESION_MM
    if facts["air_bronchograms"]:
        _air_bronchograms(canvas, lesion, box, weight, rng)
    return facts


def lesion_field(canvas: Canvas, lesion: Lesion, rng: np.random.Generator
                 ) -> tuple[tuple[slice, slice, slice], np.ndarray] | None:
    """Box and signed distance (mm, + inside) of the lesion's noisy surface."""
    grow = 1.0 + lesion.irregularity
    pad = lesion.edge_mm + lesion.rim_mm + 4.0
    rz, ra, rb = lesion.radii
    half = np.array([rz * grow + pad, max(ra, rb) * grow + pad, max(ra, rb) * grow + pad])
    centre = np.asarray(lesion.centre, float)
    box = canvas.frame.box(centre - half, centre + half)
    if box is None:
        return None
    z, y, x = canvas.frame.box_coords(box)
    rho, dist = _ellipsoid(lesion, z, y, x)
    mean_r = lesion.mean_radius
    noise = box_field(rng, z, y, x, max(3.0, 0.4 * mean_r))
    rim = np.where(rho > 1e-6, dist / np.maximum(rho, 1e-6), mean_r)
    signed = rim * (1.0 - rho) + lesion.irregularity * mean_r * noise * np.minimum(1.0, rho + 0.3)
    if lesion.lobe:
        signed = np.minimum(signed, lobe_depth(canvas.anat, lesion.lobe, z, y, x))
    return box, signed.astype(np.float32)


def _ellipsoid(lesion: Lesion, z: np.ndarray, y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalised radius and distance (mm) of points from the lesion's centre."""
    cz, cy, cx = (float(v) for v in lesion.centre)
    rz, ra, rb = (float(v) for v in lesion.radii)
    c, s = float(np.cos(lesion.angle)), float(np.sin(lesion.angle))
    dz, dy, dx = z - cz, y - cy, x - cx
    u = c * dx + s * dy
    v = -s * dx + c * dy
    rho = np.sqrt((dz / rz) ** 2 + (u / ra) ** 2 + (v / rb) ** 2)
    return rho, np.sqrt(dz * dz + u * u + v * v)


def _weight(signed: np.ndarray, edge_mm: float, lung: np.ndarray) -> np.ndarray:
    return np.clip(0.5 + signed / np.float32(edge_mm), 0.0, 1.0) * lung


def _texture(canvas: Canvas, box: tuple[slice, slice, slice], rng: np.random.Generator, scale: float) -> np.ndarray:
    z, y, x = canvas.frame.box_coords(box)
    return box_field(rng, z, y, x, scale)


def _reticulation(canvas: Canvas, box: tuple[slice, slice, slice], rng: np.random.Generator) -> np.ndarray:
    """Thin polygonal lines (0..1): where smooth noise crosses zero (crazy paving)."""
    field = _texture(canvas, box, rng, 3.0)
    width = 0.12 * max(1.0, 0.7 / canvas.frame.dx)
    return np.exp(-(field / np.float32(width)) ** 2)


def _apply(canvas: Canvas, box: tuple[slice, slice, slice], weight: np.ndarray, level: np.ndarray,
           label: int) -> int:
    """Blend ``level`` in by ``weight`` (never lightening), label ``weight >= 0.5``; voxels labelled."""
    region = canvas.volume[box]
    np.maximum(region, region + weight * (level - region), out=region)
    labels = canvas.labels[box]
    hit = weight >= LABEL_WEIGHT
    if label == GGO:
        labels[hit & (labels == 0)] = GGO
    else:
        labels[hit] = CONSOLIDATION
    return int(np.count_nonzero(hit))


def _air_bronchograms(canvas: Canvas, lesion: Lesion, box: tuple[slice, slice, slice], weight: np.ndarray,
                      rng: np.random.Generator) -> None:
    """Dark branching airways inside the dense part of a consolidation (still labelled consolidation)."""
    centre = np.asarray(lesion.centre, float)
    anat = canvas.anat
    hilum = np.array([anat.carina_z - 25.0, anat.trachea_xy[1], lesion.side * (anat.med_w + 35.0)])
    outward = centre - hilum
    outward /= max(np.linalg.norm(outward), 1e-6)

    def inside(z: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        rho, _ = _ellipsoid(lesion, z, y, x)
        core = (1.0 - rho) * lesion.mean_radius - 2.0
        return np.minimum(core, lobe_depth(anat, lesion.lobe, z, y, x) - 2.0)

    root = centre - 0.35 * lesion.mean_radius * outward
    if inside(*root) <= 0:
        root = centre
    dirs = _fan(rng, outward, BRONCHOGRAM_STYLE.first_count)
    style = replace(BRONCHOGRAM_STYLE, first_length=0.6 * lesion.mean_radius)
    tubes = grow_tree(rng, root, rng.uniform(1.4, 2.4), dirs, style, inside)
    if not len(tubes):
        return
    air = tubes_weight(canvas.frame, tubes, box) * np.clip((weight - 0.7) / 0.25, 0.0, 1.0)
    region = canvas.volume[box]
    region += air * (np.float32(BRONCHOGRAM_HU) - region)


def _fan(rng: np.random.Generator, outward: np.ndarray, count: int) -> np.ndarray:
    """``count`` directions fanned in-plane (+-45 degrees) around ``outward``, nearly flat in z."""
    base = np.arctan2(outward[1], outward[2])
    angles = base + rng.uniform(-0.8, 0.8, count)
    dz = rng.uniform(-0.3, 0.3, count)
    dirs = np.stack([dz, np.sin(angles), np.cos(angles)], axis=1)
    return dirs / np.linalg.norm(dirs, axis=1, keepdims=True)
