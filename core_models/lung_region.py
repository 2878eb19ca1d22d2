"""Where the lungs are on a HU slice, and dropping predicted lesions outside them.

The bundled model learned from slices cropped to the lungs; on a whole chest
CT it may mark blobs in the air around the patient, in blankets or in
subcutaneous fat. :func:`lung_region` finds a generous lung region on one
axial HU slice and :func:`restrict_to_lungs` keeps only the predicted lesions
that lie mostly inside it.

The region is deliberately crude and 2D: what the patient's body encloses.
The body is the largest 8-connected set of pixels at or above
:data:`AIR_MAX_HU` (soft tissue, fat, bone; the table and blankets are
usually separate components); its holes that do not reach the image border
(the lungs' air-like pixels and anything enclosed in them) are kept when at
least :data:`MIN_AREA_MM2`, then grown by :data:`MARGIN_MM` so that pleural
and juxtapleural lesions, part of the body, fall inside. Air pockets of the
table or the bedding enclose no body tissue and are left out. Trachea and
bowel gas count as "lung": the filter removes what is clearly outside the
body, nothing finer.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from core_models.prediction import RoI

#: pixels below this (HU) are air-like (lung parenchyma is about −900 to −500 HU)
AIR_MAX_HU = -400.0
#: air components smaller than this (mm²) are noise, not lung
MIN_AREA_MM2 = 100.0
#: how far (mm) the air region is grown to take in pleural lesions
MARGIN_MM = 10.0
#: a lesion component is kept when at least this share of its pixels is in the region
MIN_INSIDE_FRACTION = 0.3

_EIGHT = np.ones((3, 3), dtype=bool)


def lung_region(hu_slice: np.ndarray, spacing_yx: tuple[float, float], *, air_max_hu: float = AIR_MAX_HU,
                min_area_mm2: float = MIN_AREA_MM2, margin_mm: float = MARGIN_MM) -> np.ndarray:
    """A generous lung mask of one axial slice.

    Parameters
    ----------
    hu_slice : (H, W) array
        Hounsfield units.
    spacing_yx : (float, float)
        Pixel size along y (rows) and x (columns) in mm.
    air_max_hu : float
        Pixels below this (HU) are air-like; the body is the largest
        8-connected component of the others.
    min_area_mm2 : float
        Holes of the body smaller than this (mm²) are dropped.
    margin_mm : float
        The kept air is dilated by an ellipse of this radius in mm (a disc in
        physical units, so anisotropic pixels are handled).

    Returns
    -------
    (H, W) bool array
        All False when the body encloses no hole large enough.
    """
    hu = np.asarray(hu_slice)
    if hu.ndim != 2:
        raise ValueError(f"lung_region needs a 2D slice, got shape {hu.shape}")
    sy, sx = (float(s) for s in spacing_yx)
    body = _largest(hu >= air_max_hu)
    if body is None:
        return np.zeros(hu.shape, dtype=bool)
    # holes of the body: 4-connected, the complement's connectivity of an 8-connected set
    components, count = ndimage.label(~body)
    keep = np.bincount(components.ravel(), minlength=count + 1) * (sy * sx) >= min_area_mm2
    keep[0] = False
    keep[np.unique(np.concatenate([components[0], components[-1], components[:, 0], components[:, -1]]))] = False
    if not keep.any():
        return np.zeros(hu.shape, dtype=bool)
    return _grow(keep[components], (sy, sx), margin_mm)


def _largest(mask: np.ndarray) -> np.ndarray | None:
    """The largest 8-connected component of ``mask`` (None when it is empty)."""
    components, count = ndimage.label(mask, structure=_EIGHT)
    if count == 0:
        return None
    sizes = np.bincount(components.ravel())
    sizes[0] = 0
    return components == int(sizes.argmax())


def _grow(mask: np.ndarray, spacing_yx: tuple[float, float], margin_mm: float) -> np.ndarray:
    """``mask`` dilated by ``margin_mm`` (Euclidean, in mm), computed only in its bounding box plus the margin."""
    if margin_mm <= 0:
        return mask
    sy, sx = spacing_yx
    ry, rx = int(np.ceil(margin_mm / sy)), int(np.ceil(margin_mm / sx))
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    y0, y1 = max(rows[0] - ry, 0), min(rows[-1] + ry + 1, mask.shape[0])
    x0, x1 = max(cols[0] - rx, 0), min(cols[-1] + rx + 1, mask.shape[1])
    # a one-pixel frame of background keeps the distance transform honest at the crop's edge
    crop = np.pad(~mask[y0:y1, x0:x1], 1, constant_values=True)
    distance = ndimage.distance_transform_edt(crop, sampling=(sy, sx))[1:-1, 1:-1]
    out = np.zeros_like(mask)
    out[y0:y1, x0:x1] = distance <= margin_mm
    return out


def restrict_to_lungs(labels2d: np.ndarray, rois: Sequence[RoI], region: np.ndarray,
                      min_inside: float = MIN_INSIDE_FRACTION) -> tuple[np.ndarray, list[RoI], int]:
    """Drop predicted lesions that lie mostly outside ``region``.

    Parameters
    ----------
    labels2d : (H, W) integer array
        Predicted label values (0 background).
    rois : sequence of RoI
        The slice's detections (boxes in pixels, ``(x0, y0, x1, y1)``).
    region : (H, W) bool array
        Where lesions may be (:func:`lung_region`).
    min_inside : float
        A connected component (8-connectivity, per label value) is kept when
        at least this share of its pixels lies in ``region``, so a large
        peripheral consolidation crossing the region's margin survives.

    Returns
    -------
    labels : (H, W) array
        A filtered copy (same dtype).
    rois : list of RoI
        The RoIs whose box holds at least one pixel of ``region``.
    removed_px : int
        Lesion pixels set to background.
    """
    labels = np.array(labels2d, copy=True)
    region = np.asarray(region, dtype=bool)
    if labels.shape != region.shape:
        raise ValueError(f"labels {labels.shape} and region {region.shape} differ in shape")
    removed = 0
    for value in np.unique(labels):
        if value == 0:
            continue
        components, count = ndimage.label(labels == value, structure=_EIGHT)
        sizes = np.bincount(components.ravel(), minlength=count + 1)
        inside = np.bincount(components[region], minlength=count + 1)
        drop = inside < min_inside * sizes
        drop[0] = False
        if drop.any():
            gone = drop[components]
            labels[gone] = 0
            removed += int(gone.sum())
    return labels, [r for r in rois if _box_touches(r.box, region)], removed


def _box_touches(box: tuple[float, float, float, float], region: np.ndarray) -> bool:
    """Whether the pixels the box ``(x0, y0, x1, y1)`` covers hold any of ``region``."""
    h, w = region.shape
    x0, y0 = max(int(np.floor(box[0])), 0), max(int(np.floor(box[1])), 0)
    x1, y1 = min(int(np.ceil(box[2])), w), min(int(np.ceil(box[3])), h)
    return x1 > x0 and y1 > y0 and bool(region[y0:y1, x0:x1].any())
