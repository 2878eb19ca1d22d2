"""Scoring a model on labelled slices, through :mod:`core_models.inference`.

Validation (each epoch) and ``lesionloop evaluate`` both run the model the
way users get it: :func:`core_models.inference.run_inference` on each slice
at its original size (the model resizes internally), the label map it
returns, and its RoIs (28×28 mask logits pasted into their boxes,
probability ≥ the spec's mask threshold) as instances.

Figures:

- overlap (:func:`core_models.metrics.segmentation_report`): Dice, IoU,
  sensitivity, specificity and precision per class (``ggo``,
  ``consolidation``, ``binary`` = any lesion), each the mean over the slices
  whose ground truth holds the class - the BASELINES.md way; pooled pixel
  figures too;
- instances (:func:`core_models.metrics.evaluate_mask_ap`, COCO 101-point):
  mAP@[.50:.05:.95], AP50, AP75, against connected components of at least
  ``min_area`` pixels;
- optionally HD95 in mm per class (pixel spacing of the slice; 1 mm for
  plain images): the mean over slices whose ground truth holds the class and
  where the prediction holds it too; ``hd95_missed`` counts slices where the
  prediction has none of it (distance infinite).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from core_models.inference import CancelFlag, run_inference, run_to_completion
from core_models.metrics import (Instance, evaluate_mask_ap, instances_from_labels, segmentation_report,
                                 surface_distance_scores)
from core_models.model_spec import ModelSpec
from core_models.prediction import RoI
from core_models.roi_maps import paste_logits, sigmoid
from training.data.instances import mapped_labels
from training.data.records import Sample

CLASSES: tuple[str, ...] = ("ggo", "consolidation", "binary")


@dataclass
class SlicePrediction:
    """What the model made of one slice."""

    sample_id: str
    labels: np.ndarray
    instances: list[Instance]


def roi_instances(rois: Sequence[RoI], shape: tuple[int, int], threshold: float) -> list[Instance]:
    """RoIs as instances: probabilities (sigmoid of the pasted logits) ≥ ``threshold`` inside each box."""
    found = []
    for roi in rois:
        crop, (y0, y1, x0, x1) = paste_logits(roi.mask_logits, roi.box, shape)
        if crop.size == 0:
            continue
        found.append(Instance(sigmoid(crop) >= threshold, int(roi.label), float(roi.score), (x0, y0, x1, y1)))
    return found


def _groups(samples: Sequence[Sample]) -> list[list[int]]:
    """Runs of consecutive samples that share size, spacing and kind (one volume, batched inference)."""
    groups: list[list[int]] = []
    key = None
    for i, s in enumerate(samples):
        this = (s.raw.shape, s.is_hu, s.spacing_mm)
        if groups and this == key:
            groups[-1].append(i)
        else:
            groups.append([i])
            key = this
    return groups


def predict_samples(model: torch.nn.Module, spec: ModelSpec, samples: Sequence[Sample], *, device: str = "cpu",
                    batch_size: int = 4, cancel: CancelFlag | None = None) -> list[SlicePrediction]:
    """Run inference on the samples (same-sized neighbours batched as one volume); stops early on ``cancel``."""
    out = []
    for group in _groups(samples):
        if cancel is not None and cancel.is_set():
            break
        stacked = np.stack([samples[i].raw for i in group]).astype(np.int16, copy=False)
        volume = replace(samples[group[0]].as_volume(), array=stacked)
        prediction = run_to_completion(run_inference(model, spec, volume, device=device, batch_size=batch_size))
        for z, i in enumerate(group):
            result = prediction.slices[z]
            out.append(SlicePrediction(samples[i].sample_id, result.labels,
                                       roi_instances(result.rois, samples[i].labels.shape, spec.mask_threshold)))
    return out


def score_predictions(predictions: Sequence[SlicePrediction], samples: Sequence[Sample], *, mask_type: str,
                      min_area: int, distances: bool = False) -> dict[str, Any]:
    """The report of :func:`evaluate_samples` from finished predictions."""
    truths = [mapped_labels(s.labels, mask_type) for s in samples[: len(predictions)]]
    overlap = segmentation_report([p.labels for p in predictions], truths)
    gt_instances = [instances_from_labels(t, min_area=min_area) for t in truths]
    ap = evaluate_mask_ap([p.instances for p in predictions], gt_instances)
    report = {"n_slices": len(predictions), "overlap": overlap, "ap": ap}
    if distances:
        report["hd95"] = _hd95(predictions, samples, truths)
    report["summary"] = summary(report)
    return report


def evaluate_samples(model: torch.nn.Module, spec: ModelSpec, samples: Sequence[Sample], *, device: str = "cpu",
                     batch_size: int = 4, min_area: int = 101, distances: bool = False,
                     cancel: CancelFlag | None = None) -> dict[str, Any]:
    """Predict and score ``samples``; see the module docstring for the figures.

    Returns
    -------
    dict
        ``n_slices``, ``overlap`` (segmentation report), ``ap`` (mask AP report),
        ``hd95`` (when ``distances``), and ``summary``: flat figures
        (``dice_ggo``, ``dice_consolidation``, ``dice_binary``, ``map``, ``ap50``, ``ap75``, ...).
    """
    was_training = model.training
    try:
        predictions = predict_samples(model, spec, samples, device=device, batch_size=batch_size, cancel=cancel)
    finally:
        model.train(was_training)
    return score_predictions(predictions, samples, mask_type=spec.mask_type, min_area=min_area, distances=distances)


def _hd95(predictions: Sequence[SlicePrediction], samples: Sequence[Sample],
          truths: Sequence[np.ndarray]) -> dict[str, dict[str, float]]:
    values: dict[str, list[float]] = {name: [] for name in CLASSES}
    for pred, sample, truth in zip(predictions, samples, truths):
        scores = surface_distance_scores(pred.labels, truth, spacing=sample.spacing_mm)
        for name in CLASSES:
            values[name].append(scores[name]["hd95"])
    out = {}
    for name, vals in values.items():
        arr = np.array(vals, dtype=np.float64)
        finite = arr[np.isfinite(arr)]
        out[name] = {"hd95_mm": float(finite.mean()) if finite.size else math.nan, "n_slices": int(finite.size),
                     "missed": int(np.isinf(arr).sum())}
    return out


def summary(report: dict[str, Any]) -> dict[str, float]:
    """Flat figures of a report: ``dice_<class>``, ``iou_<class>``, ..., ``map``, ``ap50``, ``ap75``, ``hd95_<class>``."""
    flat: dict[str, float] = {}
    for name in CLASSES:
        for metric, value in report["overlap"]["slice_mean"][name].items():
            if metric != "n_slices":
                flat[f"{metric}_{name}"] = float(value)
    for key in ("map", "ap50", "ap75"):
        flat[key] = float(report["ap"][key])
    for name, values in report.get("hd95", {}).items():
        flat[f"hd95_{name}"] = values["hd95_mm"]
    return flat
