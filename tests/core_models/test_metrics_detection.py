"""Instance AP: one-to-one matching, hand-computed AP for both interpolations, empty classes."""
from __future__ import annotations

import math

import numpy as np
import pytest

from core_models.errors import InputError
from core_models.metrics import (
    SEED_MIN_AREA,
    Instance,
    average_precision,
    evaluate_mask_ap,
    greedy_match,
    instances_from_arrays,
    instances_from_labels,
    mask_iou_matrix,
)

SHAPE = (64, 64)


def blob(top: int, left: int, h: int = 8, w: int = 8, label: int = 1, score: float = 1.0) -> Instance:
    mask = np.zeros(SHAPE, dtype=bool)
    mask[top:top + h, left:left + w] = True
    return Instance(mask, label, score)


def test_instances_from_labels_split_components_per_class() -> None:
    labels = np.zeros((40, 40), dtype=np.uint8)
    labels[2:6, 2:6] = 1
    labels[20:30, 20:30] = 1
    labels[2:5, 30:35] = 2
    found = instances_from_labels(labels)
    assert sorted((i.label, i.area) for i in found) == [(1, 16), (1, 100), (2, 15)]
    for inst in found:
        assert np.array_equal(inst.full_mask(labels.shape), _component_at(labels, inst))
    assert [i.area for i in instances_from_labels(labels, min_area=20)] == [100]


def _component_at(labels: np.ndarray, inst: Instance) -> np.ndarray:
    from scipy import ndimage

    x0, y0, x1, y1 = inst.bounding_box()
    comps, _ = ndimage.label(labels == inst.label, structure=np.ones((3, 3)))
    return comps == comps[y0:y1, x0:x1][inst.mask].max()


def test_class_comes_from_the_label_value_even_without_ggo() -> None:
    labels = np.zeros((20, 20), dtype=np.uint8)
    labels[5:10, 5:10] = 2  # consolidation only: the seed relabelled this as class 1
    assert [i.label for i in instances_from_labels(labels)] == [2]


def test_connectivity_decides_whether_diagonal_pixels_join() -> None:
    labels = np.zeros((10, 10), dtype=np.uint8)
    labels[2, 2] = labels[3, 3] = 1
    assert len(instances_from_labels(labels, connectivity=2)) == 1
    assert len(instances_from_labels(labels, connectivity=1)) == 2


def test_real_mask_instances_rebuild_the_large_components(shared_data) -> None:
    from PIL import Image

    labels = np.array(Image.open(shared_data / "medseg_covid_slices" / "train" / "masks" / "0.png"))
    found = instances_from_labels(labels, min_area=SEED_MIN_AREA)
    assert found and all(i.area >= SEED_MIN_AREA and i.label in (1, 2) for i in found)
    rebuilt = np.zeros(labels.shape, dtype=np.uint8)
    for inst in found:
        rebuilt[inst.full_mask(labels.shape)] = inst.label
    assert np.all((rebuilt == 0) | (rebuilt == labels))
    kept = np.count_nonzero(rebuilt)
    assert 0.9 * np.count_nonzero(labels) <= kept <= np.count_nonzero(labels)
    perfect = evaluate_mask_ap([found], [found])
    assert perfect["map"] == 1.0


def test_mask_iou_by_hand_and_box_form_equals_full_form() -> None:
    a = blob(0, 0, 10, 10)
    b = blob(0, 5, 10, 10)  # overlap 10x5 = 50, union 150
    crop = Instance(np.ones((10, 10), dtype=bool), 1, 0.5, box=(5, 0, 15, 10))
    iou = mask_iou_matrix([a, crop], [b, blob(40, 40)])
    assert iou[0, 0] == pytest.approx(50 / 150)
    assert iou[1, 0] == pytest.approx(1.0)
    assert iou[0, 1] == 0.0 and iou[1, 1] == 0.0


def test_perfect_prediction_gives_ap_one_for_every_method() -> None:
    gts = [[blob(2, 2), blob(30, 30, label=2)], [blob(10, 40, 12, 6)]]
    preds = [[Instance(g.mask, g.label, 0.9) for g in image] for image in gts]
    for method in ("coco101", "voc", "voc_per_image"):
        report = evaluate_mask_ap(preds, gts, method=method)
        assert (report["map"], report["ap50"], report["ap75"]) == (1.0, 1.0, 1.0)
        assert report["classes"]["consolidation"]["map"] == 1.0


def test_one_prediction_cannot_match_two_ground_truths() -> None:
    left, right = blob(10, 10, 10, 10), blob(10, 20, 10, 10)
    both = blob(10, 10, 10, 20, score=0.9)  # IoU 100/200 = 0.5 with each
    is_tp = greedy_match(mask_iou_matrix([both], [left, right]), [0.9], [0.5])
    assert is_tp.sum() == 1
    voc = evaluate_mask_ap([[both]], [[left, right]], method="voc", iou_thresholds=[0.5])
    coco = evaluate_mask_ap([[both]], [[left, right]], iou_thresholds=[0.5])
    assert voc["classes"]["ggo"]["ap50"] == pytest.approx(0.5)  # recall 1/2 at precision 1
    assert coco["classes"]["ggo"]["ap50"] == pytest.approx(51 / 101)  # recall points 0.00..0.50


def test_greedy_matching_gives_the_best_overlap_to_the_highest_score() -> None:
    iou = np.array([[0.6, 0.9], [0.95, 0.0]])
    is_tp = greedy_match(iou, [0.8, 0.7], [0.5, 0.85, 0.92])
    # 0.5: first takes GT 1 (0.9), second takes GT 0; 0.85: same; 0.92: first has no GT, second takes GT 0
    assert is_tp.tolist() == [[True, True, False], [True, True, True]]


def test_false_positive_ranked_first_matches_hand_computed_ap() -> None:
    gts = [blob(0, 0), blob(20, 0), blob(40, 0)]
    preds = [blob(0, 40, score=0.9), blob(0, 0, score=0.8), blob(20, 0, score=0.7)]
    # precision 0, 1/2, 2/3 at recall 0, 1/3, 2/3 -> envelope 2/3 up to recall 2/3
    voc = evaluate_mask_ap([preds], [gts], method="voc")
    assert voc["classes"]["ggo"]["map"] == pytest.approx(2 / 3 * 2 / 3)
    coco = evaluate_mask_ap([preds], [gts])
    assert coco["classes"]["ggo"]["map"] == pytest.approx(67 * (2 / 3) / 101)  # r = 0.00..0.66


def test_interpolations_differ_on_a_dip_in_precision() -> None:
    # TP, FP, TP with 2 ground truths: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1
    scores, is_tp = [0.9, 0.8, 0.7], [True, False, True]
    assert average_precision(scores, is_tp, 2, "voc") == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert average_precision(scores, is_tp, 2, "coco101") == pytest.approx((51 * 1 + 50 * 2 / 3) / 101)


def test_empty_class_handling() -> None:
    gt_images = [[blob(0, 0)], [], []]
    pred_images = [[blob(0, 0, score=0.5)], [blob(30, 30, score=0.9)], []]
    report = evaluate_mask_ap(pred_images, gt_images, method="voc", iou_thresholds=[0.5])
    ggo = report["classes"]["ggo"]
    assert ggo["ap50"] == pytest.approx(0.5)  # the FP on image 2 outranks the only TP
    assert ggo["n_images"] == 2 and ggo["n_gt"] == 1 and ggo["n_pred"] == 2
    assert math.isnan(report["classes"]["consolidation"]["ap50"])  # no ground truth anywhere
    assert report["ap50"] == pytest.approx(0.5)  # the mean skips consolidation
    per_image = evaluate_mask_ap(pred_images, gt_images, method="voc_per_image", iou_thresholds=[0.5])
    assert per_image["classes"]["ggo"]["ap50"] == pytest.approx((1.0 + 0.0) / 2)  # image 3 does not count


def test_average_precision_edge_values() -> None:
    assert math.isnan(average_precision([], [], 0))
    assert average_precision([0.5], [False], 0) == 0.0
    assert average_precision([], [], 3) == 0.0


def test_instances_from_detector_arrays_threshold_probabilities() -> None:
    probs = np.zeros((2, 1, 8, 8), dtype=np.float32)
    probs[0, 0, :4, :4] = 0.7
    probs[1, 0, 4:, 4:] = 0.4
    found = instances_from_arrays(probs, [1, 2], [0.9, 0.3], mask_threshold=0.5)
    assert [(i.label, i.score, i.area) for i in found] == [(1, 0.9, 16), (2, 0.3, 0)]


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"method": "map"}, "unknown AP method"),
        ({"iou_thresholds": [1.5]}, "between 0 and 1"),
        ({"iou_thresholds": []}, "at least one"),
        ({"iou_thresholds": [0.0, 0.5]}, "above 0"),
    ],
)
def test_bad_ap_options_raise_input_error(kwargs: dict, needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        evaluate_mask_ap([[]], [[]], **kwargs)


def test_bad_instances_raise_input_error() -> None:
    with pytest.raises(InputError, match="2 images"):
        evaluate_mask_ap([[], []], [[]])
    with pytest.raises(InputError, match="not an Instance"):
        evaluate_mask_ap([[np.ones((4, 4))]], [[]])
    with pytest.raises(InputError, match="box"):
        Instance(np.ones((4, 4), dtype=bool), 1, 1.0, box=(0, 0, 5, 5))
    with pytest.raises(InputError, match="positive label"):
        Instance(np.ones((4, 4), dtype=bool), 0)
    with pytest.raises(InputError, match="not a number"):
        Instance(np.ones((4, 4), dtype=bool), "ggo")
    with pytest.raises(InputError, match="finite"):
        Instance(np.ones((4, 4), dtype=bool), 1, float("nan"))
