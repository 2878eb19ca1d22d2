"""Label overlays as RGBA images (Qt-free): filled or outlined, per-class visibility."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core_models.labels import LabelTable, default_label_table


@dataclass
class OverlayStyle:
    """How labels are drawn.

    Attributes
    ----------
    visible : label value -> shown.
    opacity : 0 (invisible) to 1 (opaque).
    outline : draw only each region's border instead of filling it.
    source : ``prediction`` or ``corrected`` (which label map is shown).
    """

    visible: dict[int, bool] = field(default_factory=lambda: {1: True, 2: True})
    opacity: float = 0.45
    outline: bool = False
    source: str = "prediction"


def label_lut(style: OverlayStyle, table: LabelTable | None = None) -> np.ndarray:
    """(256, 4) uint8 lookup table: label value -> RGBA (background transparent)."""
    table = table or default_label_table()
    lut = np.zeros((256, 4), np.uint8)
    alpha = int(round(255 * min(max(style.opacity, 0.0), 1.0)))
    if style.outline:
        alpha = max(alpha, 200)  # thin lines need to be seen
    for lab in table.foreground():
        if style.visible.get(lab.value, True):
            lut[lab.value, :3] = lab.color
            lut[lab.value, 3] = alpha
    return lut


def outline(labels: np.ndarray) -> np.ndarray:
    """Labels kept only on region borders (a pixel whose 4-neighbour differs)."""
    edge = np.zeros(labels.shape, bool)
    edge[1:, :] |= labels[1:, :] != labels[:-1, :]
    edge[:-1, :] |= labels[:-1, :] != labels[1:, :]
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    return np.where(edge, labels, 0).astype(labels.dtype, copy=False)


def render_overlay(labels: np.ndarray, lut: np.ndarray, outline_mode: bool = False) -> np.ndarray:
    """(H, W, 4) uint8 RGBA image of ``labels`` through ``lut``."""
    if outline_mode:
        labels = outline(labels)
    return lut[labels]


def heat_lut(n: int = 256) -> np.ndarray:
    """(n, 4) uint8 blue-to-red colour map for score maps."""
    t = np.linspace(0.0, 1.0, n)
    red = np.clip(1.5 - np.abs(4 * t - 3), 0, 1)
    green = np.clip(1.5 - np.abs(4 * t - 2), 0, 1)
    blue = np.clip(1.5 - np.abs(4 * t - 1), 0, 1)
    rgba = np.stack([red, green, blue, np.ones(n)], axis=1)
    return (rgba * 255).astype(np.uint8)
