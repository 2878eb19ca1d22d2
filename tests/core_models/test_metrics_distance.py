"""Surface distances: shifted squares and cubes, hand-made HD95, empty cases, EDT vs k-d tree."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from core_models.errors import InputError
from core_models.metrics import (
    hausdorff_95,
    hausdorff_distance,
    surface_distance_scores,
    surface_distance_summary,
    surface_distances,
    surface_mask,
)
from core_models.volume import Geometry, LabelMap


def box_mask(shape: tuple[int, ...], start: tuple[int, ...], size: int) -> np.ndarray:
    out = np.zeros(shape, dtype=bool)
    out[tuple(slice(s, s + size) for s in start)] = True
    return out


@pytest.mark.parametrize("method", ["edt", "kdtree"])
@pytest.mark.parametrize("k", [1, 2, 5])
def test_square_shifted_by_k_has_hausdorff_k_times_spacing(k: int, method: str) -> None:
    gt = box_mask((60, 60), (15, 15), 20)
    along_x = box_mask((60, 60), (15, 15 + k), 20)
    along_y = box_mask((60, 60), (15 + k, 15), 20)
    spacing = (0.7, 2.0)  # (y, x) mm: anisotropic along the shift axis
    assert surface_distance_summary(along_x, gt, spacing, method)["hd"] == pytest.approx(k * 2.0)
    assert surface_distance_summary(along_y, gt, spacing, method)["hd"] == pytest.approx(k * 0.7)
    assert hausdorff_distance(along_x, gt) == pytest.approx(k * 1.0)


@pytest.mark.parametrize("method", ["edt", "kdtree"])
def test_cube_shifted_along_z_uses_the_slice_spacing(method: str) -> None:
    gt = box_mask((30, 30, 30), (8, 8, 8), 12)
    pred = box_mask((30, 30, 30), (11, 8, 8), 12)
    summary = surface_distance_summary(pred, gt, (2.5, 0.7, 0.7), method)
    assert summary["hd"] == pytest.approx(3 * 2.5)


def test_hd95_ignores_a_single_outlier_that_sets_the_hausdorff_distance() -> None:
    gt = np.zeros((30, 30), dtype=bool)
    gt[5, 0:20] = True  # a one-pixel-thick line: every pixel is surface
    pred = gt.copy()
    pred[15, 10] = True  # an outlier 10 rows away from the line
    spacing = (0.5, 1.0)
    # pooled distances: 21 from the prediction (20 zeros + 10 rows * 0.5 mm) and 20 zeros back
    summary = surface_distance_summary(pred, gt, spacing)
    assert summary["hd"] == pytest.approx(5.0)
    assert summary["hd95"] == 0.0  # 95th percentile of 40 zeros and one 5.0
    assert summary["assd"] == pytest.approx(5.0 / 41)
    assert hausdorff_95(pred, gt, spacing) == 0.0


def test_directed_distances_are_reported_per_surface_voxel() -> None:
    gt = box_mask((20, 20), (5, 5), 6)
    pred = box_mask((20, 20), (5, 5), 6)
    pred[5, 12] = True  # one pixel beside the square, one column off its edge
    to_gt, to_pred = surface_distances(pred, gt)
    assert to_gt.size == np.count_nonzero(surface_mask(pred))
    assert to_pred.size == np.count_nonzero(surface_mask(gt))
    assert to_gt.max() == pytest.approx(2.0) and to_pred.max() == 0.0


def test_empty_cases_are_nan_and_inf() -> None:
    empty = np.zeros((10, 10), dtype=bool)
    some = box_mask((10, 10), (2, 2), 3)
    assert all(math.isnan(v) for v in surface_distance_summary(empty, empty).values())
    assert all(math.isinf(v) for v in surface_distance_summary(some, empty).values())
    assert all(math.isinf(v) for v in surface_distance_summary(empty, some).values())


def test_surface_of_a_square_is_its_ring_and_the_image_edge_counts() -> None:
    assert np.count_nonzero(surface_mask(box_mask((20, 20), (4, 4), 6))) == 4 * (6 - 1)
    full = np.ones((5, 5), dtype=bool)
    assert np.count_nonzero(surface_mask(full)) == 16  # the image border ring


def test_one_slice_volume_is_measured_as_2d() -> None:
    gt = box_mask((40, 40), (10, 10), 12)
    pred = box_mask((40, 40), (12, 13), 12)
    flat = surface_distance_summary(pred, gt, (0.8, 0.6))
    lifted = surface_distance_summary(pred[None], gt[None], (5.0, 0.8, 0.6))
    assert lifted == pytest.approx(flat)


@pytest.mark.parametrize("shape", [(48, 52), (14, 30, 26)])
def test_edt_and_kdtree_give_the_same_distances(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(7)
    blobs = ndimage.gaussian_filter(rng.standard_normal(shape), 2.0)
    gt, pred = blobs > 0.05, np.roll(blobs, 2, axis=-1) > 0.08
    spacing = (1.5, 0.7, 0.9)[-len(shape):]
    edt = surface_distances(pred, gt, spacing, "edt")
    tree = surface_distances(pred, gt, spacing, "kdtree")
    assert edt[0].size > 50
    np.testing.assert_allclose(edt[0], tree[0], atol=1e-9)
    np.testing.assert_allclose(edt[1], tree[1], atol=1e-9)


def test_scores_per_class_take_spacing_from_a_label_map() -> None:
    gt = np.zeros((1, 40, 40), dtype=np.uint8)
    gt[0, 5:15, 5:15] = 1
    gt[0, 25:35, 5:15] = 2
    pred = np.zeros_like(gt)
    pred[0, 5:15, 8:18] = 1  # GGO shifted 3 columns
    pred[0, 25:35, 5:15] = 2  # consolidation exact
    labels = LabelMap(gt, Geometry((3.0, 0.5, 0.8)))
    scores = surface_distance_scores(pred, labels)
    assert scores["ggo"]["hd"] == pytest.approx(3 * 0.8)
    assert scores["consolidation"] == {"hd": 0.0, "hd95": 0.0, "assd": 0.0}
    assert scores["binary"]["hd"] == pytest.approx(3 * 0.8)


def test_bad_spacing_and_method_raise_input_error() -> None:
    mask = box_mask((10, 10), (2, 2), 3)
    with pytest.raises(InputError, match="spacing"):
        surface_distance_summary(mask, mask, (1.0, 0.0))
    with pytest.raises(InputError, match="needs 2 values"):
        surface_distance_summary(mask, mask, (1.0, 1.0, 1.0, 1.0))
    with pytest.raises(InputError, match="method"):
        surface_distances(mask, mask, method="fast")
    with pytest.raises(InputError, match="shape"):
        surface_distance_summary(mask, mask[:5])
