"""Detector training targets from a label map: instances by connected components.

Each connected component (8-neighbourhood, as the seed) of a lesion class
with at least ``min_area`` pixels becomes one instance: a box
(x0, y0, x1, y1, pixels, x1/y1 exclusive), a model class and a full-size
mask. The model classes follow the mask type:

- ``both``: GGO → 1, consolidation → 2;
- ``ggo``: GGO → 1; consolidation is dropped (background);
- ``merge``: components of GGO ∪ consolidation → 1.

The ``semantic`` target is the label map mapped the same way (``ggo``:
consolidation → 0; ``merge``: any lesion → 1), so the semantic head learns
what the spec's ``class_to_label`` claims. A slice without lesions gives
empty targets (a negative example).
"""
from __future__ import annotations

import numpy as np
import torch

from core_models.labels import CONSOLIDATION, GGO
from core_models.metrics import instances_from_labels
from core_models.nets.mask_types import check_mask_type


def mapped_labels(labels: np.ndarray, mask_type: str) -> np.ndarray:
    """Labels as the mask type sees them (uint8): see the module docstring."""
    check_mask_type(mask_type)
    if mask_type == "both":
        return labels
    if mask_type == "ggo":
        return np.where(labels == GGO, GGO, 0).astype(np.uint8)
    return (labels > 0).astype(np.uint8)


def make_target(labels: np.ndarray, mask_type: str, min_area: int = 1,
                semantic: bool = False) -> dict[str, torch.Tensor]:
    """Training target of one slice for :class:`~core_models.nets.LesionMaskRCNN`.

    Parameters
    ----------
    labels : uint8 (H, W), 0 background, 1 GGO, 2 consolidation.
    mask_type : ``both``, ``ggo`` or ``merge``.
    min_area : smallest component (pixels) kept as an instance.
    semantic : also return the ``semantic`` (H, W) int64 label map.

    Returns
    -------
    dict
        ``boxes`` float32 (N, 4), ``labels`` int64 (N,), ``masks`` uint8 (N, H, W)
        [, ``semantic`` int64 (H, W)].
    """
    mapped = mapped_labels(np.asarray(labels, dtype=np.uint8), mask_type)
    classes = (GGO, CONSOLIDATION) if mask_type == "both" else (1,)
    found = instances_from_labels(mapped, min_area=int(min_area), classes=classes)
    shape = mapped.shape
    if found:
        boxes = torch.tensor([inst.box for inst in found], dtype=torch.float32)
        masks = torch.from_numpy(np.stack([inst.full_mask(shape) for inst in found]).astype(np.uint8))
    else:
        boxes = torch.zeros((0, 4), dtype=torch.float32)
        masks = torch.zeros((0, *shape), dtype=torch.uint8)
    target = {"boxes": boxes, "labels": torch.tensor([inst.label for inst in found], dtype=torch.int64),
              "masks": masks}
    if semantic:
        target["semantic"] = torch.from_numpy(mapped.astype(np.int64))
    return target
