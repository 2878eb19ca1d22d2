"""Painting tools: brush geometry in mm, gap-free strokes, HU limits, fills, polygon, islands, RoIs."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from core_models.editing import (
    HU_PRESETS,
    disk_footprint,
    flood_fill_mask,
    island_mask,
    limit_to_range,
    paint_edit,
    polygon_mask,
    roi_mask,
    stroke_mask,
)
from core_models.errors import InputError
from core_models.prediction import RoI


def place(shape: tuple[int, int], crop: tuple[np.ndarray, tuple[int, int]] | None) -> np.ndarray:
    """A tool's cropped mask pasted into a full slice."""
    full = np.zeros(shape, bool)
    if crop is not None:
        mask, (y0, x0) = crop
        assert y0 >= 0 and x0 >= 0 and mask.dtype == bool
        full[y0:y0 + mask.shape[0], x0:x0 + mask.shape[1]] = mask
    return full


def segment_distance_mm(shape: tuple[int, int], a: tuple[float, float], b: tuple[float, float],
                        spacing: tuple[float, float]) -> np.ndarray:
    """Reference: distance (mm) of every pixel centre to segment a-b, by dense sampling."""
    t = np.linspace(0.0, 1.0, 1001)              # <= 0.2 px apart: distance error < 0.002 mm
    sy = (a[0] + t * (b[0] - a[0])) * spacing[0]
    sx = (a[1] + t * (b[1] - a[1])) * spacing[1]
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    best = np.full(shape, np.inf)
    for k in range(0, t.size, 50):  # chunks keep memory small (~30 MB)
        dy = yy[..., None] * spacing[0] - sy[None, None, k:k + 50]
        dx = xx[..., None] * spacing[1] - sx[None, None, k:k + 50]
        best = np.minimum(best, np.sqrt(dy * dy + dx * dx).min(axis=-1))
    return best


# -- disk footprint ----------------------------------------------------------------------------
def test_isotropic_disk_has_the_area_of_the_circle() -> None:
    fp = disk_footprint(10.0, (0.5, 0.5))          # 20 px radius
    assert fp.shape == (41, 41) and fp[20, 20]
    area_mm2 = fp.sum() * 0.25
    assert area_mm2 == pytest.approx(math.pi * 100, rel=0.03)
    assert np.array_equal(fp, fp[::-1]) and np.array_equal(fp, fp.T)


def test_anisotropic_spacing_gives_an_ellipse_of_the_right_size_in_mm() -> None:
    spacing = (0.5, 1.25)                            # y pixels 0.5 mm, x pixels 1.25 mm
    fp = disk_footprint(5.0, spacing)
    assert fp.shape == (21, 9)                       # 10 px up/down, 4 px left/right
    assert fp[:, 4].sum() == 21 and fp[10, :].sum() == 9   # 10 mm across both ways (within a pixel)
    ys, xs = np.nonzero(fp)
    dist = np.hypot((ys - 10) * spacing[0], (xs - 4) * spacing[1])
    assert dist.max() <= 5.0
    assert fp.sum() * spacing[0] * spacing[1] == pytest.approx(math.pi * 25, rel=0.08)


@pytest.mark.parametrize("radius", [0.0, 0.1, 0.3])
def test_tiny_disk_is_never_empty(radius: float) -> None:
    fp = disk_footprint(radius, (0.7, 0.7))
    assert fp.shape == (1, 1) and fp.all()


def test_bad_spacing_or_radius_raise_input_error() -> None:
    with pytest.raises(InputError):
        disk_footprint(3.0, (0.0, 0.7))
    with pytest.raises(InputError):
        stroke_mask((64, 64), [(10, 10)], -1.0, (0.7, 0.7))


# -- brush strokes -----------------------------------------------------------------------------
def test_single_point_stroke_equals_the_footprint() -> None:
    fp = disk_footprint(4.0, (0.7, 0.7))
    crop = stroke_mask((100, 100), [(50.0, 40.0)], 4.0, (0.7, 0.7))
    assert crop is not None
    mask, (y0, x0) = crop
    r = fp.shape[0] // 2
    assert (y0, x0) == (50 - r, 40 - r) and np.array_equal(mask, fp)


@pytest.mark.parametrize("spacing", [(0.7, 0.7), (0.5, 1.0)])
def test_fast_stroke_with_points_200px_apart_leaves_no_gap(spacing: tuple[float, float]) -> None:
    shape, radius = (260, 260), 3.0
    a, b = (20.3, 15.0), (160.0, 157.7)              # ~200 px apart
    full = place(shape, stroke_mask(shape, [a, b], radius, spacing))
    dist = segment_distance_mm(shape, a, b, spacing)
    assert full[dist <= radius - 0.02].all()         # everything along the capsule is painted
    assert not full[dist > radius + 0.02].any()      # nothing beyond it
    _, n = ndimage.label(full)
    assert n == 1


def test_zero_radius_stroke_is_a_connected_line() -> None:
    full = place((120, 120), stroke_mask((120, 120), [(3.2, 5.7), (110.9, 40.1), (20.0, 100.4)], 0.0, (0.7, 0.7)))
    _, n = ndimage.label(full, structure=np.ones((3, 3)))
    assert n == 1 and 100 < full.sum() < 600


def test_polyline_stroke_is_union_of_its_segments() -> None:
    shape, spacing, radius = (80, 90), (0.8, 0.6), 2.5
    pts = [(10.0, 10.0), (10.0, 10.0), (40.0, 70.0), (70.0, 20.0)]   # repeated point is harmless
    whole = place(shape, stroke_mask(shape, pts, radius, spacing))
    parts = place(shape, stroke_mask(shape, pts[1:3], radius, spacing)) | \
        place(shape, stroke_mask(shape, pts[2:], radius, spacing))
    assert np.array_equal(whole, parts)


def test_stroke_is_clipped_to_the_slice_and_none_when_outside() -> None:
    shape = (50, 60)
    crop = stroke_mask(shape, [(-5.0, -5.0), (10.0, 70.0)], 3.0, (0.7, 0.7))
    assert crop is not None
    mask, (y0, x0) = crop
    assert y0 >= 0 and x0 >= 0 and y0 + mask.shape[0] <= 50 and x0 + mask.shape[1] <= 60
    assert mask[:, 0].any() and mask[:, -1].any()     # crosses the whole width
    assert stroke_mask(shape, [(-40.0, -40.0), (-30.0, 200.0)], 3.0, (0.7, 0.7)) is None
    assert stroke_mask(shape, [], 3.0, (0.7, 0.7)) is None


# -- HU-limited brush and paint_edit -----------------------------------------------------------
def ct_ramp(shape: tuple[int, int]) -> np.ndarray:
    """CT slice whose HU rises by 10 per column from -1000."""
    return np.broadcast_to(np.arange(shape[1]) * 10 - 1000, shape).astype(np.int16)


def test_limit_to_range_is_inclusive_and_respects_the_offset() -> None:
    ct = ct_ramp((20, 200))
    mask = np.ones((5, 100), bool)
    out = limit_to_range(mask, (3, 10), ct, HU_PRESETS["ggo"])   # columns 10..109 -> HU -900..+90
    hu = ct[3, 10:110]
    assert np.array_equal(out[0], (hu >= -750) & (hu <= -300))
    assert out[0].sum() == 46                        # -750, -740, ..., -300
    with pytest.raises(InputError):
        limit_to_range(mask, (3, 150), ct, (-100, 100))


def test_hu_limited_brush_paints_only_in_range() -> None:
    labels = np.zeros((3, 40, 200), np.uint8)
    ct = ct_ramp((40, 200))
    mask = np.ones((10, 200), bool)
    edit = paint_edit(labels, 1, mask, (5, 0), 2, ct_slice=ct, value_range=HU_PRESETS["consolidation"])
    assert edit is not None and not labels.any()     # paint_edit does not modify the labels
    edit.apply(labels)
    cols = np.flatnonzero(labels[1].any(axis=0))
    assert cols.min() == 85 and cols.max() == 110    # HU -150 .. +100
    assert labels[1, 5:15, 85:111].all() and labels[1].sum() == 2 * 10 * 26
    with pytest.raises(InputError):
        paint_edit(labels, 1, mask, (5, 0), 2, value_range=(-100, 100))


def test_eraser_limited_to_one_label_keeps_the_other() -> None:
    labels = np.zeros((2, 30, 30), np.uint8)
    labels[0, 5:25, 5:15] = 1
    labels[0, 5:25, 15:25] = 2
    edit = paint_edit(labels, 0, np.ones((30, 30), bool), (0, 0), 0, only_label=1)
    assert edit is not None and edit.count == 200
    edit.apply(labels)
    assert not (labels == 1).any() and (labels[0, 5:25, 15:25] == 2).all()
    assert paint_edit(labels, 0, np.ones((30, 30), bool), (0, 0), 0, only_label=1) is None


def test_paint_edit_rejects_bad_slice() -> None:
    with pytest.raises(InputError):
        paint_edit(np.zeros((2, 8, 8), np.uint8), 2, np.ones((2, 2), bool), (0, 0), 1)


# -- flood fill --------------------------------------------------------------------------------
def test_fill_is_bounded_by_the_current_label() -> None:
    labels = np.zeros((20, 20), np.uint8)
    labels[:, 10] = 2                                # wall splits the background
    labels[3, 3] = 1                                 # an island inside the left part is not filled
    full = place(labels.shape, flood_fill_mask(labels, (5, 2)))
    expected = np.zeros_like(full)
    expected[:, :10] = True
    expected[3, 3] = False
    assert np.array_equal(full, expected)
    wall = place(labels.shape, flood_fill_mask(labels, (0, 10)))
    assert np.array_equal(wall, labels == 2)


def test_fill_connectivity_4_stops_at_diagonal_gaps_and_8_passes() -> None:
    labels = np.ones((9, 9), np.uint8)
    labels[np.arange(9), np.arange(9)] = 0           # diagonal line of background
    four = place(labels.shape, flood_fill_mask(labels, (4, 4)))
    eight = place(labels.shape, flood_fill_mask(labels, (4, 4), connectivity=8))
    assert four.sum() == 1 and eight.sum() == 9
    with pytest.raises(InputError):
        flood_fill_mask(labels, (4, 4), connectivity=6)


def test_fill_bounded_by_hu_range() -> None:
    labels = np.zeros((30, 30), np.uint8)
    ct = np.full((30, 30), -900, np.int16)
    ct[5:15, 5:15] = -500                            # GGO-like square
    ct[20:25, 20:25] = -500                          # a second one, not connected
    full = place(labels.shape, flood_fill_mask(labels, (8, 8), ct2d=ct, value_range=HU_PRESETS["ggo"]))
    assert full.sum() == 100 and full[5:15, 5:15].all()
    assert flood_fill_mask(labels, (0, 0), ct2d=ct, value_range=HU_PRESETS["ggo"]) is None
    assert flood_fill_mask(labels, (40, 3)) is None  # outside the slice


# -- polygon -----------------------------------------------------------------------------------
def reference_polygon(shape: tuple[int, int], verts: list[tuple[float, float]]) -> np.ndarray:
    """Even-odd ray casting, one pixel at a time (slow, obvious)."""
    out = np.zeros(shape, bool)
    n = len(verts)
    for y in range(shape[0]):
        for x in range(shape[1]):
            inside = False
            for i in range(n):
                (ay, ax), (by, bx) = verts[i], verts[(i + 1) % n]
                if (ay > y) != (by > y) and x > ax + (y - ay) * (bx - ax) / (by - ay):
                    inside = not inside
            out[y, x] = inside
    return out


def test_axis_aligned_square_polygon() -> None:
    full = place((30, 30), polygon_mask((30, 30), [(9.5, 9.5), (9.5, 19.5), (19.5, 19.5), (19.5, 9.5)]))
    expected = np.zeros((30, 30), bool)
    expected[10:20, 10:20] = True
    assert np.array_equal(full, expected)


@pytest.mark.parametrize("verts", [
    [(2.3, 3.1), (30.7, 10.2), (12.4, 35.9)],                                        # triangle
    [(5.0, 20.0), (15.2, 24.1), (35.0, 22.0), (18.3, 28.7), (30.1, 38.2), (17.0, 31.5),
     (8.8, 38.0), (14.6, 27.9), (1.2, 21.9), (14.1, 23.0)],                              # concave star
    [(5.5, 5.5), (35.5, 5.5), (5.5, 35.5), (35.5, 35.5)],                              # self-crossing bow tie
])
def test_polygon_matches_reference_ray_casting(verts: list[tuple[float, float]]) -> None:
    shape = (40, 42)
    assert np.array_equal(place(shape, polygon_mask(shape, verts)), reference_polygon(shape, verts))


def test_polygon_is_clipped_and_degenerate_is_none() -> None:
    full = place((20, 20), polygon_mask((20, 20), [(-10.0, -10.0), (-10.0, 50.0), (10.5, 50.0), (10.5, -10.0)]))
    assert full[:11].all() and not full[11:].any()
    assert polygon_mask((20, 20), [(1.0, 1.0), (5.0, 5.0)]) is None
    assert polygon_mask((20, 20), [(1.2, 1.2), (1.4, 1.8), (1.8, 1.3)]) is None   # no pixel centre inside


# -- islands -----------------------------------------------------------------------------------
def test_island_is_the_component_of_the_seed_label() -> None:
    labels = np.zeros((20, 20), np.uint8)
    labels[2:6, 2:6] = 1
    labels[6:9, 6:9] = 1                             # touches the first only diagonally
    labels[2:6, 6:10] = 2                            # touches it sideways, other label
    labels[15:18, 15:18] = 1                         # far away
    eight = place(labels.shape, island_mask(labels, (3, 3)))
    four = place(labels.shape, island_mask(labels, (3, 3), connectivity=4))
    assert eight.sum() == 16 + 9 and four.sum() == 16
    assert not eight[labels == 2].any() and not eight[15:18, 15:18].any()
    assert place(labels.shape, island_mask(labels, (3, 7))).sum() == 16
    assert island_mask(labels, (12, 2)) is None and island_mask(labels, (-1, 3)) is None


# -- RoIs --------------------------------------------------------------------------------------
def test_roi_mask_keeps_confident_pixels_with_the_roi_label() -> None:
    logits = np.full((28, 28), -4.0, np.float16)
    logits[:, :14] = 4.0                             # left half of the box is the lesion
    roi = RoI((10.0, 20.0, 38.0, 48.0), 1, 0.9, logits)   # (x0, y0, x1, y1): 28x28 pixels
    labels = np.ones((64, 64), np.uint8)
    labels[30, 12] = 2
    full = place(labels.shape, roi_mask(labels, roi))
    assert not full[:20].any() and not full[48:].any() and not full[:, 38:].any()
    assert full[20:48, 10:24].sum() == 28 * 14 - 1 and not full[30, 12]
    assert not full[:, 24:].any()
    strict = place(labels.shape, roi_mask(labels, roi, threshold=0.99))
    assert not strict.any()
    other = RoI(roi.box, 2, 0.9, logits)
    assert place(labels.shape, roi_mask(labels, other)).sum() == 1
    labels[:] = 0
    assert roi_mask(labels, roi) is None
