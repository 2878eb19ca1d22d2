"""Segmentation, detection and classification metrics (numpy and scipy only).

- :mod:`.overlap` — Dice, IoU, sensitivity, specificity, precision per lesion
  class (``ggo``, ``consolidation``, ``binary``) and
  :func:`segmentation_report`, averaged the way BASELINES.md reports them;
- :mod:`.distance` — Hausdorff distance, HD95 and ASSD in mm from the spacing;
- :mod:`.instances` — :class:`Instance`, connected-component ground truth,
  mask IoU;
- :mod:`.ap` and :mod:`.detection` — one-to-one greedy matching, COCO 101-point
  and VOC all-point AP, :func:`evaluate_mask_ap`;
- :mod:`.classification` — confusion matrix (rows true), per-class
  sensitivity and precision, accuracy for Control / CP / COVID-19.

Label values: 0 background, 1 GGO, 2 consolidation. Every bad input raises
:class:`~core_models.errors.InputError` with a one-line message.
"""
from __future__ import annotations

from core_models.metrics._checks import LESION_NAMES, SEGMENTATION_CLASSES
from core_models.metrics.ap import (
    COCO_IOU_THRESHOLDS,
    ap_coco_101,
    ap_voc_all_point,
    average_precision,
    greedy_match,
    precision_recall,
)
from core_models.metrics.classification import (
    CLASSIFIER_CLASSES,
    classification_report,
    confusion_matrix,
    per_class_rates,
)
from core_models.metrics.detection import AP_METHODS, evaluate_mask_ap
from core_models.metrics.distance import (
    DISTANCE_METRICS,
    hausdorff_95,
    hausdorff_distance,
    surface_distance_scores,
    surface_distance_summary,
    surface_distances,
    surface_mask,
)
from core_models.metrics.instances import (
    SEED_MIN_AREA,
    Instance,
    instances_from_arrays,
    instances_from_labels,
    mask_iou_matrix,
)
from core_models.metrics.overlap import (
    OVERLAP_METRICS,
    class_counts,
    label_confusion,
    overlap_from_counts,
    overlap_per_slice,
    overlap_scores,
    segmentation_report,
)

__all__ = [
    "AP_METHODS",
    "CLASSIFIER_CLASSES",
    "COCO_IOU_THRESHOLDS",
    "DISTANCE_METRICS",
    "Instance",
    "LESION_NAMES",
    "OVERLAP_METRICS",
    "SEED_MIN_AREA",
    "SEGMENTATION_CLASSES",
    "ap_coco_101",
    "ap_voc_all_point",
    "average_precision",
    "class_counts",
    "classification_report",
    "confusion_matrix",
    "evaluate_mask_ap",
    "greedy_match",
    "hausdorff_95",
    "hausdorff_distance",
    "instances_from_arrays",
    "instances_from_labels",
    "label_confusion",
    "mask_iou_matrix",
    "overlap_from_counts",
    "overlap_per_slice",
    "overlap_scores",
    "per_class_rates",
    "precision_recall",
    "segmentation_report",
    "surface_distance_scores",
    "surface_distance_summary",
    "surface_distances",
    "surface_mask",
]
