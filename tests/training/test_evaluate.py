"""Scoring: RoIs as instances, the figures of a perfect and a wrong prediction, a model end to end."""
from __future__ import annotations

import math

import numpy as np
import pytest

from core_models.checkpoints import load_model
from core_models.metrics import instances_from_labels
from core_models.prediction import RoI
from tests.training.helpers import lesion_slice
from training.data.records import Sample, SliceRecord
from training.evaluate import SlicePrediction, evaluate_samples, roi_instances, score_predictions


def _sample(seed: int, spacing: tuple[float, float] = (1.0, 1.0)) -> Sample:
    image, labels = lesion_slice(48, 56, seed)
    record = SliceRecord(f"s{seed}", "medseg", "image", "", "")
    return Sample(image / 255.0, labels, image.astype(np.int16), False, spacing, record)


def test_roi_logits_become_thresholded_instances_in_their_box() -> None:
    logits = np.full((28, 28), -4.0, np.float16)
    logits[:, 14:] = 4.0  # right half inside
    roi = RoI((10.0, 5.0, 30.0, 25.0), 2, 0.8, logits)
    (inst,) = roi_instances([roi], (40, 40), threshold=0.5)
    assert inst.label == 2 and inst.score == pytest.approx(0.8)
    full = inst.full_mask((40, 40))
    assert full[5:25, 21:30].all() and not full[5:25, 10:19].any() and not full[:5].any()


def test_perfect_predictions_score_one_and_empty_ones_zero() -> None:
    samples = [_sample(1), _sample(2, spacing=(0.5, 0.5))]
    perfect = [SlicePrediction(s.sample_id, s.labels.copy(), instances_from_labels(s.labels, min_area=5))
               for s in samples]
    report = score_predictions(perfect, samples, mask_type="both", min_area=5, distances=True)
    flat = report["summary"]
    for key in ("dice_ggo", "dice_consolidation", "dice_binary", "map", "ap50", "ap75"):
        assert flat[key] == pytest.approx(1.0), key
    assert flat["hd95_binary"] == 0.0 and report["hd95"]["binary"]["n_slices"] == 2
    empty = [SlicePrediction(s.sample_id, np.zeros_like(s.labels), []) for s in samples]
    report = score_predictions(empty, samples, mask_type="both", min_area=5, distances=True)
    assert report["summary"]["dice_binary"] == 0.0 and report["summary"]["map"] == 0.0
    assert report["hd95"]["binary"]["missed"] == 2 and math.isnan(report["summary"]["hd95_binary"])


def test_hd95_is_in_millimetres() -> None:
    sample = _sample(3, spacing=(2.0, 2.0))
    shifted = np.roll(sample.labels, 3, axis=1)  # 3 pixels = 6 mm
    report = score_predictions([SlicePrediction("x", shifted, [])], [sample], mask_type="both", min_area=5,
                               distances=True)
    assert report["hd95"]["binary"]["hd95_mm"] == pytest.approx(6.0, abs=0.5)


def test_merge_models_are_scored_against_merged_truth() -> None:
    sample = _sample(4)
    merged = (sample.labels > 0).astype(np.uint8)
    report = score_predictions([SlicePrediction("x", merged, [])], [sample], mask_type="merge", min_area=5)
    assert report["summary"]["dice_binary"] == pytest.approx(1.0)
    assert math.isnan(report["summary"]["dice_consolidation"])  # no consolidation class in a merged model


def test_a_model_is_evaluated_through_inference(tiny_model_dir) -> None:
    model, spec = load_model(tiny_model_dir)
    samples = [_sample(5), _sample(6)]
    report = evaluate_samples(model, spec, samples, device="cpu", min_area=5, distances=True)
    assert report["n_slices"] == 2 and report["overlap"]["slice_mean"]["binary"]["n_slices"] == 2
    flat = report["summary"]
    assert 0.0 <= flat["dice_binary"] <= 1.0 and 0.0 <= flat["map"] <= 1.0
    assert report["ap"]["classes"]["ggo"]["n_gt"] >= 2
    assert not model.training
