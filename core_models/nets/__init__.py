"""Networks: registered builders of the COVID-CT-Mask-Net family and classification module S.

``build_model(name, **kwargs)`` builds any registered network;
``registered_models()`` lists them. Importing this package registers the
builders in :mod:`core_models.nets.maskrcnn`.
"""
from __future__ import annotations

from core_models.nets.classifier_s import (CLASS_NAMES, ClassificationModuleS, MaskRCNNClassifier,
                                           freeze_for_classifier)
from core_models.nets.mask_types import MASK_TYPES, class_to_label_for, num_classes_for
from core_models.nets.maskrcnn import DETECTOR_DEFAULTS, LesionMaskRCNN, count_parameters
from core_models.nets.registry import build_model, get_builder, register_model, registered_models
from core_models.nets.roi_ranking import VARIANTS, rank_rois

__all__ = [
    "CLASS_NAMES", "ClassificationModuleS", "DETECTOR_DEFAULTS", "LesionMaskRCNN", "MASK_TYPES",
    "MaskRCNNClassifier", "VARIANTS", "build_model", "class_to_label_for", "count_parameters",
    "freeze_for_classifier", "get_builder", "num_classes_for", "rank_rois", "register_model",
    "registered_models",
]
