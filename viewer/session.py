"""``ReviewSession``: the one object that owns what is being reviewed.

Widgets are passive: they render the session's state and emit intent
signals; the main window turns intents into session calls. The session owns
the CT volume, the current (possibly partial) prediction, the predicted and
the corrected label maps, the current position and the display window. All
its methods run on the GUI thread; workers hand results over by signals.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from core_models.prediction import Prediction, SliceResult
from core_models.volume import CTVolume, LabelMap
from viewer.windowing import (
    PRESET_KEYS,
    Window,
    default_window,
    drag_window,
    preset_window,
    value_range,
)

#: a changed region: (z0, z1, y0, y1, x0, x1), half-open voxel ranges
BBox = tuple[int, int, int, int, int, int]
LABEL_SOURCES = ("prediction", "corrected")


class ReviewSession(QObject):
    """State of one review: volume, prediction, labels, position, window."""

    volumeChanged = Signal()
    sliceChanged = Signal(int)
    positionChanged = Signal(object)  # (z, y, x)
    windowChanged = Signal()
    predictionChanged = Signal()
    sliceResultArrived = Signal(int)
    labelsChanged = Signal(object)  # BBox
    roiSelected = Signal(object)  # index into the slice's RoIs, or None

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.volume: CTVolume | None = None
        self.path: Path | None = None
        self.window = Window(1500.0, -600.0)
        self.value_range: tuple[float, float] = (0.0, 255.0)
        self.position: tuple[int, int, int] = (0, 0, 0)
        self._clear_prediction_state()

    def _clear_prediction_state(self) -> None:
        self.prediction: Prediction | None = None
        self.predicted: LabelMap | None = None
        self.corrected: LabelMap | None = None
        self.slice_results: dict[int, SliceResult] = {}
        self.model_version = ""
        self.classifier_note = ""
        self.selected_roi: int | None = None

    # -- volume and position ---------------------------------------------------------------
    def set_volume(self, volume: CTVolume, path: str | Path | None = None) -> None:
        """Show ``volume``: centre position, default window, no prediction."""
        self.volume = volume
        self.path = Path(path) if path is not None else None
        self.value_range = value_range(volume.array, volume.is_hu)
        self.window = default_window(*self.value_range, volume.is_hu)
        nz, ny, nx = volume.shape
        self.position = (nz // 2, ny // 2, nx // 2)
        self._clear_prediction_state()
        self.volumeChanged.emit()
        self.windowChanged.emit()
        self.predictionChanged.emit()
        self.sliceChanged.emit(self.current_slice)
        self.positionChanged.emit(self.position)

    @property
    def current_slice(self) -> int:
        """The axial slice index (z) being shown."""
        return self.position[0]

    @property
    def n_slices(self) -> int:
        return self.volume.shape[0] if self.volume is not None else 0

    def set_slice(self, z: int) -> None:
        """Show axial slice ``z`` (clamped to the volume)."""
        if self.volume is None:
            return
        self.set_position((int(z), self.position[1], self.position[2]))

    def step_slice(self, delta: int) -> None:
        """Move ``delta`` slices up or down."""
        self.set_slice(self.current_slice + int(delta))

    def set_position(self, voxel: tuple[int, int, int]) -> None:
        """Move the crosshair to voxel (z, y, x), clamped; emits what changed."""
        if self.volume is None:
            return
        clamped = tuple(int(min(max(v, 0), s - 1)) for v, s in zip(voxel, self.volume.shape))
        if clamped == self.position:
            return
        old_z = self.position[0]
        self.position = clamped  # type: ignore[assignment]
        if clamped[0] != old_z:
            self.selected_roi = None
            self.sliceChanged.emit(clamped[0])
        self.positionChanged.emit(self.position)

    def value_at(self, z: int, y: int, x: int) -> float | None:
        """CT value (HU or grey) at a voxel; ``None`` outside the volume."""
        if self.volume is None:
            return None
        if not all(0 <= v < s for v, s in zip((z, y, x), self.volume.shape)):
            return None
        return float(self.volume.array[z, y, x])

    # -- window ----------------------------------------------------------------------------
    def set_window(self, window: Window) -> None:
        if window != self.window:
            self.window = window
            self.windowChanged.emit()

    def apply_preset(self, key: int | str) -> bool:
        """Apply preset ``key`` (1-4 or a name); False where it does not apply (HU preset on 8-bit)."""
        if self.volume is None:
            return False
        name = PRESET_KEYS[key] if isinstance(key, int) else key
        window = preset_window(name, *self.value_range, self.volume.is_hu)
        if window is None:
            return False
        self.set_window(window)
        return True

    def drag_window(self, start: Window, dx: float, dy: float) -> None:
        """Window after a right-drag of (dx, dy) screen pixels from ``start``."""
        self.set_window(drag_window(start, dx, dy, *self.value_range))

    # -- prediction ------------------------------------------------------------------------
    def begin_prediction(self, model_version: str = "", classifier_note: str = "") -> None:
        """Start a new (empty) prediction; earlier results are discarded."""
        if self.volume is None:
            return
        self._clear_prediction_state()
        self.model_version = model_version
        self.classifier_note = classifier_note
        self.predicted = self.volume.empty_labels()
        self.corrected = self.volume.empty_labels()
        self.predictionChanged.emit()
        self.labelsChanged.emit(self.full_bbox())

    def add_slice_result(self, result: SliceResult) -> None:
        """Copy one slice's result in (GUI thread) and tell the views."""
        if self.volume is None or self.predicted is None or self.corrected is None:
            return
        z = int(result.index)
        if not 0 <= z < self.n_slices or result.labels.shape != self.volume.shape[1:]:
            return
        self.slice_results[z] = result
        self.predicted.array[z] = result.labels
        self.corrected.array[z] = result.labels
        self.sliceResultArrived.emit(z)
        self.labelsChanged.emit((z, z + 1, 0, self.volume.shape[1], 0, self.volume.shape[2]))

    def finish_prediction(self, prediction: Prediction) -> None:
        """Keep the run's :class:`Prediction` (complete or cancelled part-way)."""
        if self.volume is None or prediction.labels.shape != self.volume.shape:
            return
        if self.predicted is None:
            self.begin_prediction(prediction.model_version)
        for z in sorted(set(prediction.slices) - set(self.slice_results)):
            self.add_slice_result(prediction.slices[z])
        self.prediction = prediction
        self.model_version = prediction.model_version
        self.classifier_note = prediction.classifier_note
        self.predictionChanged.emit()

    def labels(self, source: str = "prediction") -> LabelMap | None:
        """The predicted or the corrected label map (``None`` before any run)."""
        if source not in LABEL_SOURCES:
            raise ValueError(f"unknown label source {source!r}")
        return self.predicted if source == "prediction" else self.corrected

    def slice_result(self, z: int | None = None) -> SliceResult | None:
        """The result for slice ``z`` (default: the current one), if it has arrived."""
        return self.slice_results.get(self.current_slice if z is None else int(z))

    def volumes_ml(self, source: str = "prediction") -> dict[int, float]:
        """Lesion volume per label value in mL."""
        labels = self.labels(source)
        return labels.volumes_ml() if labels is not None else {}

    def select_roi(self, index: int | None) -> None:
        """Select RoI ``index`` of the current slice (``None``: no selection)."""
        result = self.slice_result()
        if index is not None and (result is None or not 0 <= index < len(result.rois)):
            index = None
        self.selected_roi = index
        self.roiSelected.emit(index)

    def full_bbox(self) -> BBox:
        nz, ny, nx = self.volume.shape if self.volume is not None else (0, 0, 0)
        return 0, nz, 0, ny, 0, nx

    def slice_series(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(z, COVID-19 probability, lesion area mm²) of the slices done so far (NaN without S)."""
        zs = np.array(sorted(self.slice_results), dtype=int)
        covid = np.array([self.slice_results[z].class_probs[2] if self.slice_results[z].class_probs is not None
                          else np.nan for z in zs], dtype=float)
        area = np.array([sum(self.slice_results[z].area_mm2.values()) for z in zs], dtype=float)
        return zs, covid, area
