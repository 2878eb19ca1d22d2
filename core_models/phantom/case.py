"""One phantom case: chest, lesions, scanner, and the facts that describe it."""
from __future__ import annotations

from typing import Any

import numpy as np

from core_models.errors import InputError
from core_models.labels import CONSOLIDATION, GGO
from core_models.phantom.anatomy import build_chest
from core_models.phantom.anatomy_params import sample_anatomy
from core_models.phantom.config import CLASS_IDS, CLASS_NAMES, Z_SPACING_CHOICES_MM, PhantomConfig, check_case_request
from core_models.phantom.frame import Frame, make_frame
from core_models.phantom.lesion_draw import Canvas, draw_lesions
from core_models.phantom.lesion_plan import DepthMap, plan_lesions
from core_models.phantom.noise import scanner_slice
from core_models.volume import CTVolume, LabelMap

HU_MIN, HU_MAX = -1024, 3071


def case_rngs(index: int, seed: int) -> dict[str, np.random.Generator]:
    """Independent random streams of one case, fixed by (seed, index)."""
    names = ("frame", "anatomy", "chest", "lesions", "scanner")
    children = np.random.SeedSequence([seed, index]).spawn(len(names))
    return {name: np.random.default_rng(child) for name, child in zip(names, children)}


def generate_case(index: int, seed: int, config: PhantomConfig) -> tuple[CTVolume, LabelMap, dict[str, Any]]:
    """Generate phantom case ``index`` of the series fixed by ``seed``.

    Parameters
    ----------
    index : case number (0, 1, ...); with ``kind="mixed"`` it also picks the class.
    seed : series seed; the same (seed, index, config) gives the same arrays.
    config : grid, class and scanner settings.

    Returns
    -------
    volume : int16 HU volume (z, y, x) with its geometry (spacing (dz, dx, dx) mm).
    labels : uint8 label map on the same grid: 0 background, 1 GGO, 2 consolidation.
    meta : case facts: ``kind``, ``class_id``, ``class_name``, ``lesion_count``,
        ``lesions`` (per lesion: kind, side, lobe, volume_ml...), ``ggo_ml``,
        ``consolidation_ml``, ``lung_ml``, ``lung_voxels``, ``z_spacing_mm``,
        and ``lung_mask`` (bool array (z, y, x), lesions included).
    """
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise InputError(f"phantom case index must be a whole number >= 0, got {index!r}")
    check_case_request(1, seed)
    rngs = case_rngs(index, seed)
    kind = config.kind_for_case(index)
    dz = float(config.z_spacing_mm or rngs["frame"].choice(Z_SPACING_CHOICES_MM))
    frame = make_frame(config.size, config.slices, config.fov_mm, dz, rngs["frame"])
    anat = sample_anatomy(rngs["anatomy"], config.fov_mm)
    chest = build_chest(frame, anat, rngs["chest"], vessels=config.vessels)
    labels = np.zeros(frame.shape, dtype=np.uint8)
    plan = plan_lesions(kind, rngs["lesions"], DepthMap.of(chest.lung, frame), anat)
    facts = draw_lesions(Canvas(chest.volume, labels, chest.lung, frame, anat), plan, rngs["lesions"])
    hu = scan(chest.volume, rngs["scanner"], config)
    geometry = frame.geometry()
    source = f"phantom seed {seed} case {index} ({kind})"
    meta = case_facts(index, seed, kind, frame, labels, chest.lung, facts)
    volume = CTVolume(hu, geometry, modality="CT", source=source,
                      meta={"phantom": True, "class_id": meta["class_id"], "kind": kind})
    return volume, LabelMap(labels, geometry, source=source), meta


def scan(volume: np.ndarray, rng: np.random.Generator, config: PhantomConfig) -> np.ndarray:
    """Scanner noise and blur, slice by slice, then rounding to int16 HU."""
    out = np.empty(volume.shape, dtype=np.int16)
    for k in range(volume.shape[0]):
        plane = scanner_slice(volume[k], rng, config.noise_hu, config.blur_px)
        np.clip(plane, HU_MIN, HU_MAX, out=plane)
        out[k] = np.rint(plane)
    return out


def case_facts(index: int, seed: int, kind: str, frame: Frame, labels: np.ndarray, lung: np.ndarray,
               lesions: list[dict]) -> dict[str, Any]:
    """The ``meta`` dict of :func:`generate_case`."""
    voxel_ml = frame.geometry().voxel_volume_ml
    counts = np.bincount(labels.ravel(), minlength=3)
    kept = []
    for fact in lesions:
        if fact.get("voxels", 0) > 0:
            fact = dict(fact, volume_ml=round(fact["voxels"] * voxel_ml, 3))
            kept.append(fact)
    lung_voxels = int(np.count_nonzero(lung))
    class_id = CLASS_IDS[kind]
    return {
        "index": index, "seed": seed, "kind": kind, "class_id": class_id, "class_name": CLASS_NAMES[class_id],
        "lesion_count": len(kept), "lesions": kept,
        "ggo_ml": round(float(counts[GGO]) * voxel_ml, 3),
        "consolidation_ml": round(float(counts[CONSOLIDATION]) * voxel_ml, 3),
        "lung_voxels": lung_voxels, "lung_ml": round(lung_voxels * voxel_ml, 3),
        "shape": list(frame.shape), "spacing_mm": [frame.dz, frame.dx, frame.dx],
        "z_spacing_mm": frame.dz, "z_scale": round(frame.z_scale, 4),
        "chest_range_mm": [round(frame.z_lo, 2), round(frame.z_hi, 2)],
        "lung_mask": lung,
    }
