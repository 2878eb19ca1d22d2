"""Helpers for the workspace tests: a small CT with a non-trivial grid, seeded disk strokes."""
from __future__ import annotations

import numpy as np

from core_models.editing import LabelEdit
from core_models.volume import CTVolume, Geometry, LabelMap

#: a tilted, anisotropic grid, so geometry round trips mean something
GEOMETRY = Geometry(spacing=(2.5, 0.7, 0.8), origin=(-120.5, 80.25, -300.0),
                    direction=(0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0))


def small_volume(shape: tuple[int, int, int] = (6, 48, 40)) -> CTVolume:
    """A CT of ``shape`` (z, y, x) with a gradient of HU values."""
    hu = np.linspace(-1000, 200, int(np.prod(shape))).reshape(shape).astype(np.int16)
    return CTVolume(hu, GEOMETRY)


def prediction(volume: CTVolume) -> LabelMap:
    """A prediction with a GGO block on slice 1 and consolidation on slice 3."""
    array = np.zeros(volume.shape, np.uint8)
    array[1, 4:12, 5:15] = 1
    array[3, 20:30, 10:20] = 2
    return LabelMap(array, volume.geometry)


def stroke(shape: tuple[int, int, int], seed: int, number: int) -> tuple[int, np.ndarray, tuple[int, int], int]:
    """Stroke ``number`` of a seeded sequence: (z, disk mask, (y0, x0), value 0/1/2)."""
    rng = np.random.default_rng([seed, number])
    z = int(rng.integers(shape[0]))
    r = int(rng.integers(1, 7))
    cy, cx = int(rng.integers(shape[1])), int(rng.integers(shape[2]))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    disk = yy ** 2 + xx ** 2 <= r * r
    y0, x0 = cy - r, cx - r
    ys, xs = slice(max(0, -y0), disk.shape[0] - max(0, y0 + disk.shape[0] - shape[1])), \
        slice(max(0, -x0), disk.shape[1] - max(0, x0 + disk.shape[1] - shape[2]))
    value = int(rng.choice([0, 1, 2], p=[0.3, 0.4, 0.3]))  # 0 = eraser
    return z, disk[ys, xs], (max(0, y0), max(0, x0)), value


def paint(labels: np.ndarray, seed: int, first: int, last: int) -> np.ndarray:
    """``labels`` after strokes ``first..last`` (inclusive), painted directly (the reference)."""
    out = labels.copy()
    for n in range(first, last + 1):
        z, mask, (y0, x0), value = stroke(labels.shape, seed, n)
        out[z, y0:y0 + mask.shape[0], x0:x0 + mask.shape[1]][mask] = value
    return out


def stroke_edit(labels: np.ndarray, seed: int, number: int) -> LabelEdit | None:
    """Stroke ``number`` as a LabelEdit against the current ``labels`` (None when it changes nothing)."""
    z, mask, offset, value = stroke(labels.shape, seed, number)
    return LabelEdit.from_mask(labels, z, mask, value, offset)
