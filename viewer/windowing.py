"""Window/level: presets, full range and the right-drag rule (Qt-free).

A window is a display ``width`` and ``level`` (centre), both in HU for CT and
in grey values (0-255) for 8-bit inputs, which are shown as they are.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: name -> (width, level) in HU
HU_PRESETS: dict[str, tuple[float, float]] = {
    "lung": (1500.0, -600.0),
    "mediastinum": (350.0, 40.0),
    "bone": (2000.0, 300.0),
}
#: hotkey -> preset name (``full`` is the volume's whole value range)
PRESET_KEYS: dict[int, str] = {1: "lung", 2: "mediastinum", 3: "bone", 4: "full"}
#: screen pixels of right-drag that sweep the whole value range
DRAG_PIXELS_PER_RANGE = 600.0


@dataclass(frozen=True)
class Window:
    """Display window: ``width`` and ``level`` (centre) in HU or grey values."""

    width: float
    level: float

    def __post_init__(self) -> None:
        if not np.isfinite(self.width) or not np.isfinite(self.level) or self.width <= 0:
            raise ValueError(f"window width must be positive and finite, got {self.width} / {self.level}")

    @property
    def levels(self) -> tuple[float, float]:
        """(low, high) display limits."""
        return self.level - self.width / 2.0, self.level + self.width / 2.0


def value_range(array: np.ndarray, is_hu: bool) -> tuple[float, float]:
    """(min, max) of the values to show; 8-bit inputs are always 0-255."""
    if not is_hu or array.size == 0:
        return 0.0, 255.0
    lo, hi = float(array.min()), float(array.max())
    return lo, max(hi, lo + 1.0)


def full_range_window(lo: float, hi: float) -> Window:
    """The window spanning ``lo`` to ``hi``."""
    return Window(max(hi - lo, 1.0), (lo + hi) / 2.0)


def preset_window(name: str, lo: float, hi: float, is_hu: bool) -> Window | None:
    """Window of preset ``name``; ``None`` for an HU preset on an 8-bit image."""
    if name == "full":
        return full_range_window(lo, hi)
    if name not in HU_PRESETS:
        raise KeyError(name)
    if not is_hu:
        return None
    return Window(*HU_PRESETS[name])


def default_window(lo: float, hi: float, is_hu: bool) -> Window:
    """Lung preset for CT, the full 0-255 range for 8-bit images."""
    return Window(*HU_PRESETS["lung"]) if is_hu else full_range_window(lo, hi)


def drag_window(start: Window, dx: float, dy: float, lo: float, hi: float) -> Window:
    """Window after a right-drag of ``dx``, ``dy`` screen pixels from ``start``.

    Horizontal motion changes the width (right = wider), vertical motion the
    level (up = higher), as in 3D Slicer and ITK-SNAP. The sensitivity scales
    with the value range ``hi - lo`` (HU or grey values).
    """
    per_pixel = max(hi - lo, 1.0) / DRAG_PIXELS_PER_RANGE
    width = max(start.width + dx * per_pixel, 1.0)
    level = start.level - dy * per_pixel
    return Window(width, level)
