"""Mask types of the seed: which lesion classes a detector predicts.

- ``both``: background, GGO, consolidation (3 classes, model class 1 = GGO,
  2 = consolidation);
- ``ggo``: background, GGO (consolidation dropped from the targets);
- ``merge``: background, lesion (GGO and consolidation merged). The one
  lesion class is mapped to our label value 1 (GGO) in label maps, because
  the label table has no "lesion" value; a merged model cannot tell
  consolidation apart, and the model spec records that it is ``merge``.
"""
from __future__ import annotations

from core_models.errors import ModelError
from core_models.labels import CONSOLIDATION, GGO

MASK_TYPES = ("both", "ggo", "merge")

_CLASS_TO_LABEL: dict[str, dict[int, int]] = {
    "both": {1: GGO, 2: CONSOLIDATION},
    "ggo": {1: GGO},
    "merge": {1: GGO},
}


def check_mask_type(mask_type: str) -> str:
    """Return ``mask_type`` or raise :class:`ModelError` if it is not one of :data:`MASK_TYPES`."""
    if mask_type not in MASK_TYPES:
        raise ModelError(f"mask type must be one of {', '.join(MASK_TYPES)}, got {mask_type!r}")
    return mask_type


def num_classes_for(mask_type: str) -> int:
    """Number of detector classes, background included (3 for ``both``, else 2)."""
    return len(_CLASS_TO_LABEL[check_mask_type(mask_type)]) + 1


def class_to_label_for(mask_type: str) -> dict[int, int]:
    """Model class index -> our label value (1 GGO, 2 consolidation)."""
    return dict(_CLASS_TO_LABEL[check_mask_type(mask_type)])
