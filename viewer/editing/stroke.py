"""One live brush or eraser drag: painted segment by segment, committed as one edit.

While the mouse moves, each segment (previous point to this one, a capsule of
the brush's radius, so fast strokes leave no gaps) is written straight into the
label slice so it shows at once; the slice as it was before the drag is kept,
and :meth:`BrushStroke.finish` turns the difference into ONE
:class:`~core_models.editing.LabelEdit` (one undo step).
"""
from __future__ import annotations

import numpy as np

from core_models.editing import LabelEdit
from core_models.editing.tools import paint_edit, stroke_mask

Box2D = tuple[int, int, int, int]  # (y0, y1, x0, x1), half-open pixels


class BrushStroke:
    """A drag of the brush (``value`` > 0) or the eraser (``value`` 0) on slice ``z``.

    Parameters
    ----------
    labels : (Z, Y, X) uint8 label volume, changed in place as the stroke goes.
    z : axial slice.
    radius_mm : brush radius in mm.
    spacing_yx : pixel size (row, column) in mm.
    value : label painted (0 erases).
    ct_slice, value_range : HU-limited brush: only pixels with lo <= CT <= hi change.
    only_label : change only pixels currently holding this label (eraser option).
    """

    def __init__(self, labels: np.ndarray, z: int, radius_mm: float, spacing_yx: tuple[float, float],
                 value: int, *, ct_slice: np.ndarray | None = None,
                 value_range: tuple[float, float] | None = None, only_label: int | None = None) -> None:
        self.labels = labels
        self.z = int(z)
        self.radius_mm = float(radius_mm)
        self.spacing_yx = spacing_yx
        self.value = int(value)
        self.ct_slice = ct_slice
        self.value_range = value_range
        self.only_label = only_label
        self.before = labels[self.z].copy()  # one slice, freed when the stroke ends
        self.box: Box2D | None = None
        self.last: tuple[float, float] | None = None
        self.points = 0

    def add(self, point_yx: tuple[float, float]) -> Box2D | None:
        """Paint from the previous point to ``point_yx`` (pixel coordinates); the changed box or None."""
        points = [point_yx] if self.last is None else [self.last, point_yx]
        self.last = point_yx
        self.points += 1
        found = stroke_mask(self.labels.shape[1:], points, self.radius_mm, self.spacing_yx)
        if found is None:
            return None
        mask, offset = found
        edit = paint_edit(self.labels, self.z, mask, offset, self.value, ct_slice=self.ct_slice,
                          value_range=self.value_range, only_label=self.only_label)
        if edit is None:
            return None
        edit.apply(self.labels)
        _, _, y0, y1, x0, x1 = edit.bbox
        if self.box is None:
            self.box = (y0, y1, x0, x1)
        else:
            b = self.box
            self.box = (min(b[0], y0), max(b[1], y1), min(b[2], x0), max(b[3], x1))
        return y0, y1, x0, x1

    def finish(self) -> LabelEdit | None:
        """The whole drag as one edit (already in the labels); None when nothing changed."""
        if self.box is None:
            return None
        y0, y1, x0, x1 = self.box
        before = self.before[None, y0:y1, x0:x1]
        after = self.labels[self.z:self.z + 1, y0:y1, x0:x1]
        return LabelEdit.from_arrays(before, after, (self.z, y0, x0))
