"""Painting geometry for label correction, Qt-free.

Every tool turns a gesture on one axial slice into a boolean mask cropped to
its bounding box, returned as ``(mask, (y0, x0))`` with the crop's top-left
corner in slice pixels, or ``None`` when the gesture covers nothing.
:func:`paint_edit` turns such a mask into a :class:`LabelEdit` (only the
voxels that change); the caller applies it.

Pixel coordinates are ``(y, x)`` array indices; a pixel's centre sits at its
integer coordinates. Distances and radii are in mm, using the slice's
``spacing_yx`` (mm per pixel along y and x), so a brush stays round in mm on
anisotropic pixels. Masks are computed with numpy/scipy array operations,
never with Python loops over pixels.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

from core_models.editing.edit import LabelEdit
from core_models.errors import InputError

if TYPE_CHECKING:
    from core_models.prediction import RoI

HU_PRESETS: dict[str, tuple[float, float]] = {"ggo": (-750.0, -300.0), "consolidation": (-150.0, 100.0)}

Crop = tuple[np.ndarray, tuple[int, int]]


# -- helpers -----------------------------------------------------------------------------------
def _spacing(spacing_yx: Sequence[float]) -> tuple[float, float]:
    sy, sx = (float(spacing_yx[0]), float(spacing_yx[1]))
    if not (sy > 0 and sx > 0 and math.isfinite(sy) and math.isfinite(sx)):
        raise InputError(f"pixel spacing must be positive, got {tuple(spacing_yx)} mm")
    return sy, sx


def _radius(radius_mm: float, sy: float, sx: float) -> float:
    """Effective radius (mm): at least half the coarser pixel, so thin strokes stay connected."""
    radius = float(radius_mm)
    if not math.isfinite(radius) or radius < 0:
        raise InputError(f"brush radius must be a non-negative number of mm, got {radius_mm}")
    return max(radius, 0.5 * max(sy, sx))


def _trim(mask: np.ndarray, offset: tuple[int, int]) -> Crop | None:
    """Crop ``mask`` (placed at ``offset``) to its True pixels; ``None`` if it has none."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    return np.ascontiguousarray(mask[y0:y1, x0:x1]), (offset[0] + y0, offset[1] + x0)


def _seed(shape_yx: tuple[int, int], seed_yx: Sequence[float]) -> tuple[int, int] | None:
    y, x = int(round(float(seed_yx[0]))), int(round(float(seed_yx[1])))
    if 0 <= y < shape_yx[0] and 0 <= x < shape_yx[1]:
        return y, x
    return None


def _range(value_range: Sequence[float]) -> tuple[float, float]:
    lo, hi = float(value_range[0]), float(value_range[1])
    if lo > hi:
        raise InputError(f"value range must be (min, max), got ({lo}, {hi})")
    return lo, hi


# -- brush ------------------------------------------------------------------------------------
def disk_footprint(radius_mm: float, spacing_yx: tuple[float, float]) -> np.ndarray:
    """Boolean ellipse (in pixels) of a disk of ``radius_mm`` around the central pixel.

    Parameters
    ----------
    radius_mm : disk radius in mm (below half a pixel it becomes a single pixel).
    spacing_yx : pixel size (y, x) in mm.

    Returns
    -------
    (2 * ry + 1, 2 * rx + 1) bool array, ``ry = floor(r / sy)``; never empty.
    """
    sy, sx = _spacing(spacing_yx)
    radius = _radius(radius_mm, sy, sx)
    ry, rx = int(math.floor(radius / sy)), int(math.floor(radius / sx))
    dy = (np.arange(-ry, ry + 1, dtype=np.float64) * sy)[:, None]
    dx = (np.arange(-rx, rx + 1, dtype=np.float64) * sx)[None, :]
    return (dy * dy + dx * dx) <= radius * radius


def _capsule(mask: np.ndarray, corner: tuple[int, int], a: np.ndarray, b: np.ndarray,
             radius: float, sy: float, sx: float) -> None:
    """OR into ``mask`` the pixels within ``radius`` mm of segment a-b (pixel coords)."""
    ry, rx = radius / sy, radius / sx
    h, w = mask.shape
    y0 = max(int(math.ceil(min(a[0], b[0]) - ry)) - corner[0], 0)
    y1 = min(int(math.floor(max(a[0], b[0]) + ry)) + 1 - corner[0], h)
    x0 = max(int(math.ceil(min(a[1], b[1]) - rx)) - corner[1], 0)
    x1 = min(int(math.floor(max(a[1], b[1]) + rx)) + 1 - corner[1], w)
    if y1 <= y0 or x1 <= x0:
        return
    py = (np.arange(y0 + corner[0], y1 + corner[0], dtype=np.float64) - a[0])[:, None] * sy
    px = (np.arange(x0 + corner[1], x1 + corner[1], dtype=np.float64) - a[1])[None, :] * sx
    dy, dx = (b[0] - a[0]) * sy, (b[1] - a[1]) * sx
    length2 = dy * dy + dx * dx
    if length2 > 0:
        t = np.clip((py * dy + px * dx) / length2, 0.0, 1.0)
        py, px = py - t * dy, px - t * dx
    mask[y0:y1, x0:x1] |= (py * py + px * px) <= radius * radius


def stroke_mask(shape_yx: tuple[int, int], points_yx: Sequence[Sequence[float]] | np.ndarray,
                radius_mm: float, spacing_yx: tuple[float, float]) -> Crop | None:
    """Pixels within ``radius_mm`` of the polyline through ``points_yx``, without gaps.

    Each segment paints a capsule (all pixel centres within the radius of the
    segment, in mm), so consecutive points may lie any distance apart.

    Parameters
    ----------
    shape_yx : (H, W) of the slice, pixels.
    points_yx : (N, 2) float pixel coordinates (y, x) of the drag, N >= 1.
    radius_mm : brush radius in mm.
    spacing_yx : pixel size (y, x) in mm.

    Returns
    -------
    ``(mask, (y0, x0))`` cropped to its bounding box and clipped to the slice,
    or ``None`` when the stroke misses the slice.
    """
    sy, sx = _spacing(spacing_yx)
    radius = _radius(radius_mm, sy, sx)
    pts = np.asarray(points_yx, dtype=np.float64).reshape(-1, 2)
    if pts.shape[0] == 0 or not np.isfinite(pts).all():
        return None
    if pts.shape[0] > 1:  # drop repeated points (a mouse that did not move)
        keep = np.ones(pts.shape[0], dtype=bool)
        keep[1:] = np.any(pts[1:] != pts[:-1], axis=1)
        pts = pts[keep]
    height, width = int(shape_yx[0]), int(shape_yx[1])
    ry, rx = radius / sy, radius / sx
    y0 = max(int(math.ceil(pts[:, 0].min() - ry)), 0)
    y1 = min(int(math.floor(pts[:, 0].max() + ry)) + 1, height)
    x0 = max(int(math.ceil(pts[:, 1].min() - rx)), 0)
    x1 = min(int(math.floor(pts[:, 1].max() + rx)) + 1, width)
    if y1 <= y0 or x1 <= x0:
        return None
    mask = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    segments = zip(pts[:-1], pts[1:]) if pts.shape[0] > 1 else [(pts[0], pts[0])]
    for a, b in segments:
        _capsule(mask, (y0, x0), a, b, radius, sy, sx)
    return _trim(mask, (y0, x0))


def limit_to_range(mask: np.ndarray, offset: tuple[int, int], ct_slice: np.ndarray,
                   value_range: tuple[float, float]) -> np.ndarray:
    """``mask`` restricted to pixels whose CT value lies in ``[min, max]`` (inclusive).

    Parameters
    ----------
    mask : (h, w) bool, placed at ``offset`` (y, x) in the slice.
    ct_slice : (H, W) CT slice in HU.
    value_range : (min, max) in HU, e.g. ``HU_PRESETS["ggo"]``.

    Returns
    -------
    (h, w) bool, a new array.
    """
    lo, hi = _range(value_range)
    mask = np.asarray(mask, dtype=bool)
    y0, x0 = int(offset[0]), int(offset[1])
    ct = ct_slice[y0:y0 + mask.shape[0], x0:x0 + mask.shape[1]]
    if ct.shape != mask.shape or y0 < 0 or x0 < 0:
        raise InputError(f"mask {mask.shape} at {offset} leaves the CT slice {ct_slice.shape}")
    return mask & (ct >= lo) & (ct <= hi)


def paint_edit(labels: np.ndarray, z: int, mask: np.ndarray, offset: tuple[int, int], value: int, *,
               ct_slice: np.ndarray | None = None, value_range: tuple[float, float] | None = None,
               only_label: int | None = None) -> LabelEdit | None:
    """The edit that paints ``value`` under ``mask`` on slice ``z`` (``labels`` is not modified).

    Parameters
    ----------
    labels : (Z, Y, X) uint8 label volume.
    z : axial slice index.
    mask, offset : a tool's cropped mask and its (y, x) corner in the slice.
    value : label to paint (0 = eraser, 1 GGO, 2 consolidation).
    ct_slice, value_range : HU-limited brush: paint only where ``min <= HU <= max``.
    only_label : touch only pixels whose current label is ``only_label``.

    Returns
    -------
    The :class:`LabelEdit` (apply it with ``edit.apply(labels)``), or ``None`` when nothing changes.
    """
    if not 0 <= int(z) < labels.shape[0]:
        raise InputError(f"slice {z} is outside the volume (0..{labels.shape[0] - 1})")
    if not 0 <= int(value) <= 255:
        raise InputError(f"label value must be 0..255, got {value}")
    mask = np.asarray(mask, dtype=bool)
    if value_range is not None:
        if ct_slice is None:
            raise InputError("an HU-limited brush needs the CT slice")
        mask = limit_to_range(mask, offset, ct_slice, value_range)
    if only_label is not None:
        y0, x0 = int(offset[0]), int(offset[1])
        current = labels[int(z), y0:y0 + mask.shape[0], x0:x0 + mask.shape[1]]
        if current.shape == mask.shape:
            mask = mask & (current == only_label)
    return LabelEdit.from_mask(labels, int(z), mask, int(value), offset)


# -- region tools -----------------------------------------------------------------------------
def _structure(connectivity: int) -> np.ndarray:
    if connectivity not in (4, 8):
        raise InputError(f"connectivity must be 4 or 8, got {connectivity}")
    return ndimage.generate_binary_structure(2, 1 if connectivity == 4 else 2)


def _component(region: np.ndarray, seed: tuple[int, int], connectivity: int) -> Crop | None:
    """The connected component of bool ``region`` containing ``seed``, cropped."""
    if not region[seed]:
        return None
    components, _ = ndimage.label(region, structure=_structure(connectivity))
    index = int(components[seed])
    box = ndimage.find_objects(components)[index - 1]
    crop = components[box] == index
    return crop, (int(box[0].start), int(box[1].start))


def flood_fill_mask(labels2d: np.ndarray, seed_yx: Sequence[float], *, ct2d: np.ndarray | None = None,
                    value_range: tuple[float, float] | None = None, connectivity: int = 4) -> Crop | None:
    """Connected region around ``seed_yx`` on one slice.

    Without ``value_range``: the region of pixels sharing the seed's current
    label (bounded by the current label). With ``value_range`` (HU, inclusive)
    and ``ct2d``: the region of in-range CT pixels containing the seed.

    Returns
    -------
    ``(mask, (y0, x0))``, or ``None`` when the seed lies outside the slice or
    (with a range) its own CT value is out of range.
    """
    _structure(connectivity)
    seed = _seed(labels2d.shape, seed_yx)
    if seed is None:
        return None
    if value_range is None:
        region = labels2d == labels2d[seed]
    else:
        if ct2d is None or ct2d.shape != labels2d.shape:
            raise InputError("a fill bounded by an HU range needs the CT slice of the same shape")
        lo, hi = _range(value_range)
        region = (ct2d >= lo) & (ct2d <= hi)
    return _component(region, seed, connectivity)


def polygon_mask(shape_yx: tuple[int, int], vertices_yx: Sequence[Sequence[float]] | np.ndarray) -> Crop | None:
    """Pixel centres inside the polygon ``vertices_yx`` (float pixel coords, even-odd rule).

    Returns
    -------
    ``(mask, (y0, x0))`` clipped to the slice, or ``None`` when fewer than three
    vertices are given or no pixel centre lies inside.
    """
    verts = np.asarray(vertices_yx, dtype=np.float64).reshape(-1, 2)
    if verts.shape[0] < 3 or not np.isfinite(verts).all():
        return None
    height, width = int(shape_yx[0]), int(shape_yx[1])
    y0 = max(int(math.ceil(verts[:, 0].min())), 0)
    y1 = min(int(math.floor(verts[:, 0].max())) + 1, height)
    x0 = max(int(math.ceil(verts[:, 1].min())), 0)
    x1 = min(int(math.floor(verts[:, 1].max())) + 1, width)
    if y1 <= y0 or x1 <= x0:
        return None
    a, b = verts, np.roll(verts, -1, axis=0)
    rows = np.arange(y0, y1, dtype=np.float64)[:, None]          # (h, 1) pixel-centre rows
    crosses = (a[None, :, 0] > rows) != (b[None, :, 0] > rows)    # (h, E) edges crossing each row
    dy = np.where(crosses, b[:, 0] - a[:, 0], 1.0)
    x_cross = a[:, 1] + (rows - a[:, 0]) * (b[:, 1] - a[:, 1]) / dy
    # a crossing at x flips inside/outside for every pixel centre to its right
    first = np.clip(np.floor(x_cross).astype(np.int64) + 1 - x0, 0, x1 - x0)
    r_idx, e_idx = np.nonzero(crosses)
    flips = np.zeros((y1 - y0, x1 - x0 + 1), dtype=np.int32)
    np.add.at(flips, (r_idx, first[r_idx, e_idx]), 1)
    inside = (np.cumsum(flips[:, :-1], axis=1) & 1).astype(bool)
    return _trim(inside, (y0, x0))


def island_mask(labels2d: np.ndarray, seed_yx: Sequence[float], connectivity: int = 8) -> Crop | None:
    """The connected component of the seed's (non-zero) label; ``None`` on background or off-slice."""
    _structure(connectivity)
    seed = _seed(labels2d.shape, seed_yx)
    if seed is None or labels2d[seed] == 0:
        return None
    return _component(labels2d == labels2d[seed], seed, connectivity)


def roi_mask(labels2d: np.ndarray, roi: RoI, threshold: float = 0.5) -> Crop | None:
    """Pixels of a :class:`core_models.prediction.RoI` that carry its label on this slice.

    A pixel belongs to the RoI when it lies in the RoI's box, its pasted mask
    probability (sigmoid of the resized logits) is ``>= threshold``, and
    ``labels2d`` holds ``roi.label`` there.
    """
    from core_models.roi_maps import paste_logits, sigmoid  # torch import only when used

    crop, (y0, y1, x0, x1) = paste_logits(roi.mask_logits, roi.box, labels2d.shape)
    if crop.size == 0:
        return None
    inside = (sigmoid(crop) >= float(threshold)) & (labels2d[y0:y1, x0:x1] == int(roi.label))
    return _trim(inside, (y0, x0))
