"""Overlap metrics: hand-computed squares, empty cases, slice averaging, bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest

from core_models.errors import InputError
from core_models.metrics import label_confusion, overlap_per_slice, overlap_scores, segmentation_report
from core_models.metrics import overlap as overlap_module
from core_models.volume import Geometry, LabelMap


def square(shape: tuple[int, int], top: int, left: int, size: int, value: int = 1) -> np.ndarray:
    out = np.zeros(shape, dtype=np.uint8)
    out[top:top + size, left:left + size] = value
    return out


@pytest.mark.parametrize("k", [1, 3, 7])
def test_square_shifted_by_k_pixels_matches_hand_formulas(k: int) -> None:
    n, shape = 20, (64, 64)
    gt = square(shape, 10, 10, n)
    pred = square(shape, 10, 10 + k, n)
    scores = overlap_scores(pred, gt)["ggo"]
    overlap = n * (n - k)
    union = n * n + k * n
    negatives = shape[0] * shape[1] - n * n
    assert scores["tp"] == overlap and scores["fp"] == k * n and scores["fn"] == k * n
    assert scores["dice"] == pytest.approx(2 * overlap / (2 * n * n))
    assert scores["iou"] == pytest.approx(overlap / union)
    assert scores["sensitivity"] == pytest.approx((n - k) / n)
    assert scores["precision"] == pytest.approx((n - k) / n)
    assert scores["specificity"] == pytest.approx((negatives - k * n) / negatives)


def test_binary_is_union_of_lesion_classes() -> None:
    gt = square((32, 32), 4, 4, 10, value=1)
    pred = square((32, 32), 4, 4, 10, value=2)  # right place, wrong lesion class
    scores = overlap_scores(pred, gt)
    assert scores["ggo"]["dice"] == 0.0
    assert scores["consolidation"]["dice"] == 0.0
    assert scores["binary"]["dice"] == 1.0


def test_class_absent_from_both_uses_the_empty_value() -> None:
    gt = square((32, 32), 4, 4, 10)
    pred = gt.copy()
    default = overlap_scores(pred, gt)["consolidation"]
    excluded = overlap_scores(pred, gt, empty_value=math.nan)["consolidation"]
    assert all(default[m] == 1.0 for m in ("dice", "iou", "sensitivity", "precision"))
    assert all(math.isnan(excluded[m]) for m in ("dice", "iou", "sensitivity", "precision"))


def test_one_sided_empty_scores_zero_not_empty_value() -> None:
    gt = square((32, 32), 4, 4, 10)
    nothing = np.zeros_like(gt)
    missed = overlap_scores(nothing, gt)["ggo"]
    assert missed["dice"] == 0.0 and missed["sensitivity"] == 0.0
    assert missed["precision"] == 0.0  # 0/0, but the prediction missed lesion pixels
    invented = overlap_scores(gt, nothing, empty_value=math.nan)["ggo"]
    assert invented["dice"] == 0.0 and invented["precision"] == 0.0
    assert invented["sensitivity"] == 0.0  # 0/0, but the prediction has false positives


def test_classes_do_not_shift_when_a_slice_lacks_one() -> None:
    only_consolidation = square((32, 32), 8, 8, 6, value=2)
    report = segmentation_report([only_consolidation], [only_consolidation])
    assert report["slice_mean"]["consolidation"]["dice"] == 1.0
    assert report["slice_mean"]["consolidation"]["n_slices"] == 1
    assert report["slice_mean"]["ggo"]["n_slices"] == 0
    assert math.isnan(report["slice_mean"]["ggo"]["dice"])


def test_report_averages_over_slices_whose_ground_truth_holds_the_class() -> None:
    shape = (40, 40)
    gt = [square(shape, 5, 5, 10), square(shape, 5, 5, 10), np.zeros(shape, np.uint8)]
    pred = [square(shape, 5, 5, 10), square(shape, 5, 10, 10), square(shape, 20, 20, 4)]
    report = segmentation_report(pred, gt)
    # slice 1: 10x10 squares shifted by 5 -> Dice 50/100; slice 3 has no GGO in the truth
    assert report["slice_mean"]["ggo"]["dice"] == pytest.approx((1.0 + 0.5) / 2)
    assert report["slice_mean"]["ggo"]["n_slices"] == 2
    assert report["slice_mean"]["binary"]["n_slices"] == 2
    tp, fp, fn = 100 + 50, 50 + 16, 50
    pooled = report["pooled"]["ggo"]
    assert (pooled["tp"], pooled["fp"], pooled["fn"]) == (tp, fp, fn)
    assert pooled["dice"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert report["n_slices"] == 3


def test_report_accepts_slices_of_different_sizes_and_a_volume() -> None:
    rng = np.random.default_rng(3)
    vol_gt = rng.integers(0, 3, (4, 24, 30), dtype=np.uint8)
    vol_pred = rng.integers(0, 3, (4, 24, 30), dtype=np.uint8)
    from_volume = segmentation_report(vol_pred, vol_gt)
    from_list = segmentation_report(list(vol_pred), list(vol_gt))
    assert from_volume == from_list
    mixed = segmentation_report([vol_pred[0], vol_pred[1, :10, :12]], [vol_gt[0], vol_gt[1, :10, :12]])
    assert mixed["n_slices"] == 2


def test_confusion_matches_a_naive_count_across_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(overlap_module, "_CHUNK_VOXELS", 500)  # forces many chunks
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 3, (7, 16, 20), dtype=np.uint8)
    pred = rng.integers(0, 3, (7, 16, 20), dtype=np.int32)
    conf = label_confusion(pred, gt)
    for s in range(7):
        for t in range(3):
            for p in range(3):
                assert conf[s, t, p] == np.count_nonzero((gt[s] == t) & (pred[s] == p))


def test_per_slice_scores_and_pooled_scores_agree_with_counts() -> None:
    rng = np.random.default_rng(1)
    gt = rng.integers(0, 3, (5, 12, 12), dtype=np.uint8)
    pred = rng.integers(0, 3, (5, 12, 12), dtype=np.uint8)
    per_slice = overlap_per_slice(pred, gt)["binary"]
    pooled = overlap_scores(pred, gt)["binary"]
    assert per_slice["dice"].shape == (5,)
    assert int(per_slice["tp"].sum()) == pooled["tp"] == np.count_nonzero((gt > 0) & (pred > 0))


def test_label_map_input_is_accepted() -> None:
    array = square((16, 16), 2, 2, 5)[None]
    labels = LabelMap(array, Geometry((2.0, 0.7, 0.7)))
    assert overlap_scores(labels, labels)["ggo"]["dice"] == 1.0


@pytest.mark.parametrize(
    ("pred", "gt", "needle"),
    [
        (np.zeros((4, 4), np.uint8), np.zeros((4, 5), np.uint8), "shape"),
        (np.full((4, 4), 3, np.uint8), np.zeros((4, 4), np.uint8), "from_seed"),
        (np.zeros((4, 4), np.float32), np.zeros((4, 4), np.uint8), "integer"),
        (np.zeros(4, np.uint8), np.zeros(4, np.uint8), "2D or 3D"),
        (np.full((4, 4), -1, np.int8), np.zeros((4, 4), np.uint8), "label value -1"),
    ],
)
def test_bad_label_input_raises_one_line_input_error(pred: np.ndarray, gt: np.ndarray, needle: str) -> None:
    with pytest.raises(InputError, match=needle) as info:
        overlap_scores(pred, gt)
    assert "\n" not in str(info.value)


def test_report_rejects_unpaired_slices() -> None:
    with pytest.raises(InputError, match="2 predicted slices but 1"):
        segmentation_report([np.zeros((4, 4), np.uint8)] * 2, [np.zeros((4, 4), np.uint8)])
    with pytest.raises(InputError, match="no slices"):
        segmentation_report([], [])


def test_real_masks_score_perfectly_against_themselves_and_less_when_eroded(shared_data) -> None:
    from PIL import Image
    from scipy import ndimage

    folder = shared_data / "medseg_covid_slices" / "train" / "masks"
    masks = [np.array(Image.open(folder / f"{i}.png")) for i in (0, 5, 14)]
    perfect = segmentation_report(masks, masks)
    assert all(perfect["slice_mean"][c]["dice"] == 1.0 for c in ("ggo", "consolidation", "binary"))
    eroded = [np.where(ndimage.binary_erosion(m > 0, iterations=2), m, 0).astype(np.uint8) for m in masks]
    worse = segmentation_report(eroded, masks)
    assert 0.0 < worse["pooled"]["binary"]["dice"] < 1.0
    assert worse["pooled"]["binary"]["precision"] == 1.0  # erosion adds no false positive
