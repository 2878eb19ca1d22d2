"""Object instances on 2D images, and their mask IoU.

An :class:`Instance` is one object on one image: a binary mask, a class
(label value: 1 GGO, 2 consolidation) and a confidence score. The mask is
either the full image (``box`` None) or the crop of a box pasted at
``box = (x0, y0, x1, y1)`` (pixels, x1 and y1 exclusive), which is how a
detector's per-RoI masks are stored without filling whole images.

Ground-truth instances come from a label map by connected components per
class (:func:`instances_from_labels`), the way the seed built them, but with
the class taken from the label value itself (the seed shifted classes when a
slice lacked one).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from core_models.errors import InputError
from core_models.labels import CONSOLIDATION, GGO
from core_models.metrics._checks import as_label_array

#: the seed kept connected components of more than 100 pixels
SEED_MIN_AREA = 101

Box = tuple[int, int, int, int]


@dataclass(frozen=True, eq=False)
class Instance:
    """One object on a 2D image.

    Attributes
    ----------
    mask : ndarray of bool, (y, x)
        The full-image mask, or the crop inside ``box`` when ``box`` is given.
    label : int
        Class label value (1 GGO, 2 consolidation).
    score : float
        Confidence (higher first); 1.0 for ground truth.
    box : (x0, y0, x1, y1) of int, optional
        Where ``mask`` sits on the image, pixels, x1 and y1 exclusive.
    """

    mask: np.ndarray
    label: int
    score: float = 1.0
    box: Box | None = None

    def __post_init__(self) -> None:
        mask = np.asarray(self.mask)
        if mask.ndim != 2:
            raise InputError(f"an instance mask must be 2D, got shape {mask.shape}")
        object.__setattr__(self, "mask", mask.astype(bool, copy=False))
        try:
            label, score = int(self.label), float(self.score)
        except (TypeError, ValueError):
            raise InputError(f"instance class {self.label!r} or score {self.score!r} is not a number") from None
        if label != self.label or label < 1:
            raise InputError(f"instance class must be a positive label value, got {self.label}")
        if not np.isfinite(score):
            raise InputError(f"instance score must be finite, got {self.score}")
        object.__setattr__(self, "label", label)
        object.__setattr__(self, "score", score)
        if self.box is not None:
            self._check_box()

    def _check_box(self) -> None:
        x0, y0, x1, y1 = (int(v) for v in self.box)  # type: ignore[union-attr]
        if x0 < 0 or y0 < 0 or (y1 - y0, x1 - x0) != self.mask.shape:
            raise InputError(f"box {self.box} does not fit a mask crop of shape {self.mask.shape}")
        object.__setattr__(self, "box", (x0, y0, x1, y1))

    @property
    def offset(self) -> tuple[int, int]:
        """(y, x) pixel position of ``mask[0, 0]`` on the image."""
        return (0, 0) if self.box is None else (self.box[1], self.box[0])

    @property
    def area(self) -> int:
        """Number of mask pixels."""
        return int(np.count_nonzero(self.mask))

    def bounding_box(self) -> Box | None:
        """Tight (x0, y0, x1, y1) box of the mask pixels on the image (None if empty)."""
        found = ndimage.find_objects(self.mask.view(np.uint8), max_label=1)[0]
        if found is None:
            return None
        oy, ox = self.offset
        return (found[1].start + ox, found[0].start + oy, found[1].stop + ox, found[0].stop + oy)

    def full_mask(self, shape: tuple[int, int]) -> np.ndarray:
        """The mask pasted onto an all-False image of ``shape`` (y, x); parts outside are cut."""
        out = np.zeros(shape, dtype=bool)
        oy, ox = self.offset
        h = max(0, min(self.mask.shape[0], shape[0] - oy))
        w = max(0, min(self.mask.shape[1], shape[1] - ox))
        out[oy:oy + h, ox:ox + w] = self.mask[:h, :w]
        return out


def instances_from_labels(
    label2d: Any,
    min_area: int = 1,
    classes: Iterable[int] = (GGO, CONSOLIDATION),
    connectivity: int = 2,
) -> list[Instance]:
    """Ground-truth instances: connected components of each class of a 2D label map.

    Parameters
    ----------
    label2d : ndarray (y, x)
        Labels 0 bg, 1 GGO, 2 consolidation.
    min_area : int
        Components with fewer pixels are dropped (:data:`SEED_MIN_AREA` = 101
        reproduces the seed's "area > 100").
    classes : iterable of int
        Label values to split into instances.
    connectivity : int
        1: 4-neighbourhood; 2: 8-neighbourhood (the seed's skimage default).

    Returns
    -------
    list of Instance
        Score 1.0, mask cropped to the component's box; ordered by class, then
        by component (raster order of their first pixel).
    """
    labels = as_label_array(label2d, "label map")
    if labels.ndim != 2:
        raise InputError(f"instances are made from a 2D label map, got shape {labels.shape}")
    if connectivity not in (1, 2):
        raise InputError(f"connectivity must be 1 or 2, got {connectivity}")
    structure = ndimage.generate_binary_structure(2, connectivity)
    found: list[Instance] = []
    for value in classes:
        components, _ = ndimage.label(labels == value, structure=structure)
        for index, box in enumerate(ndimage.find_objects(components), start=1):
            if box is None:
                continue
            crop = components[box] == index
            if np.count_nonzero(crop) < min_area:
                continue
            xyxy = (box[1].start, box[0].start, box[1].stop, box[0].stop)
            found.append(Instance(crop, value, 1.0, xyxy))
    return found


def instances_from_arrays(
    masks: Any, labels: Sequence[int], scores: Sequence[float] | None = None, mask_threshold: float = 0.5
) -> list[Instance]:
    """Instances from stacked full-image masks, as a detector returns them.

    Parameters
    ----------
    masks : ndarray (n, y, x) or (n, 1, y, x)
        Boolean masks or mask probabilities in [0, 1].
    labels : sequence of int
        Class label value of each mask.
    scores : sequence of float, optional
        Confidence of each mask (default 1.0).
    mask_threshold : float
        Probabilities at or above it are inside (ignored for boolean masks).
    """
    array = np.asarray(masks)
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 3:
        raise InputError(f"instance masks must be (n, y, x), got shape {array.shape}")
    binary = array if array.dtype == bool else array >= mask_threshold
    scores = [1.0] * len(binary) if scores is None else list(scores)
    if not len(binary) == len(labels) == len(scores):
        raise InputError(f"{len(binary)} masks, {len(labels)} labels and {len(scores)} scores differ in number")
    return [Instance(m, int(c), float(s)) for m, c, s in zip(binary, labels, scores)]


def _tight(instance: Instance) -> tuple[np.ndarray, np.ndarray]:
    """(y0, x0, y1, x1) tight box on the image and the mask cropped to it."""
    found = ndimage.find_objects(instance.mask.view(np.uint8), max_label=1)[0]
    if found is None:
        return np.array([0, 0, 0, 0]), np.zeros((0, 0), dtype=bool)
    oy, ox = instance.offset
    box = np.array([found[0].start + oy, found[1].start + ox, found[0].stop + oy, found[1].stop + ox])
    return box, instance.mask[found]


def mask_iou_matrix(preds: Sequence[Instance], gts: Sequence[Instance]) -> np.ndarray:
    """Mask IoU of every (prediction, ground truth) pair.

    Returns
    -------
    ndarray of float64, shape (len(preds), len(gts))
        Intersection over union of the pixel sets; 0 where either mask is empty.
    """
    tight_p, tight_g = [_tight(p) for p in preds], [_tight(g) for g in gts]
    iou = np.zeros((len(preds), len(gts)))
    if not preds or not gts:
        return iou
    boxes_p = np.array([b for b, _ in tight_p]).reshape(-1, 4)
    boxes_g = np.array([b for b, _ in tight_g]).reshape(-1, 4)
    low = np.maximum(boxes_p[:, None, :2], boxes_g[None, :, :2])
    high = np.minimum(boxes_p[:, None, 2:], boxes_g[None, :, 2:])
    touching = np.all(high > low, axis=-1)
    areas_p = np.array([np.count_nonzero(m) for _, m in tight_p])
    areas_g = np.array([np.count_nonzero(m) for _, m in tight_g])
    for i, j in zip(*np.nonzero(touching)):
        (y0, x0), (y1, x1) = low[i, j], high[i, j]
        (py, px), (gy, gx) = boxes_p[i, :2], boxes_g[j, :2]
        a = tight_p[i][1][y0 - py:y1 - py, x0 - px:x1 - px]
        b = tight_g[j][1][y0 - gy:y1 - gy, x0 - gx:x1 - gx]
        inter = np.count_nonzero(a & b)
        iou[i, j] = inter / (areas_p[i] + areas_g[j] - inter)
    return iou
