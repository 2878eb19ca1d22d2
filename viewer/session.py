"""``ReviewSession``: the one object that owns what is being reviewed.

Widgets are passive: they render the session's state and emit intent
signals; the main window turns intents into session calls. The session owns
the CT volume, the current (possibly partial) prediction, the predicted and
the corrected label maps, the current position and the display window. All
its methods run on the GUI thread; workers hand results over by signals.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from core_models.editing import LabelEdit
from core_models.prediction import Prediction, RoI, SliceResult
from core_models.volume import CTVolume, LabelMap
from viewer.windowing import (
    PRESET_KEYS,
    Window,
    default_window,
    drag_window,
    preset_window,
    value_range,
)

if TYPE_CHECKING:
    from core_models.workspace import Workspace

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
    editApplied = Signal(object)  # LabelEdit as applied to corrected (the inverse on undo)
    roiConfirmed = Signal(int, object)  # (z, RoI) accepted by the reviewer
    reviewChanged = Signal(int)  # slice z whose status or note changed; -1: all slices
    dirtyChanged = Signal(bool)  # the workspace has (True) or has no (False) unsaved changes

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.volume: CTVolume | None = None
        self.path: Path | None = None
        self.window = Window(1500.0, -600.0)
        self.value_range: tuple[float, float] = (0.0, 255.0)
        self.position: tuple[int, int, int] = (0, 0, 0)
        self._clear_prediction_state()
        self._clear_review_state()
        self._init_editing()

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
        self._clear_review_state()
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
        keep = self.corrected if self.workspace is not None else None  # review work survives a re-run
        self._clear_prediction_state()
        self.model_version = model_version
        self.classifier_note = classifier_note
        self.predicted = self.volume.empty_labels()
        self.corrected = keep if keep is not None else self.volume.empty_labels()
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
        if not self.is_protected(z):  # accepted / corrected slices keep the reviewer's labels
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

    # -- editing -----------------------------------------------------------------------------
    # (viewer editing, issue 6 C: the undo stack and the edit signals; review state lives elsewhere)
    def _init_editing(self) -> None:
        self.undo_stack = QUndoStack(self)
        self._edit_target: LabelMap | None = None
        self.volumeChanged.connect(self._check_edit_target)
        self.predictionChanged.connect(self._check_edit_target)

    def _check_edit_target(self) -> None:
        """A new corrected label map (new volume or run): earlier edits no longer apply to it."""
        if self.corrected is not self._edit_target:
            self._edit_target = self.corrected
            self.undo_stack.clear()

    def editable_labels(self) -> LabelMap | None:
        """``corrected``, created empty when the volume has no labels yet (``None`` without a volume)."""
        if self.volume is None:
            return None
        if self.corrected is None:
            self.corrected = self.volume.empty_labels()
        self._check_edit_target()
        return self.corrected

    def apply_edit(self, edit: LabelEdit | None, already_applied: bool = False, text: str = "edit") -> bool:
        """Push ``edit`` of ``corrected`` as one undo step; False when there is nothing to do.

        ``already_applied``: its new values are in the labels already (a live stroke).
        """
        if edit is None or self.editable_labels() is None:
            return False
        from viewer.editing.commands import LabelEditCommand

        self.undo_stack.push(LabelEditCommand(self, edit, text, already_applied))
        return True

    def _announce_edit(self, applied: LabelEdit) -> None:
        """Called by the undo commands after writing ``applied`` into ``corrected``."""
        self.editApplied.emit(applied)
        self.labelsChanged.emit(tuple(applied.bbox))

    def confirm_roi(self, z: int, roi: RoI) -> None:
        """The reviewer accepted RoI ``roi`` of slice ``z`` (its pixels stay)."""
        self.roiConfirmed.emit(int(z), roi)

    # -- review -----------------------------------------------------------------------------
    # (viewer review, issue 6 D: read-only access to the series' Workspace, which
    # viewer.review_controller.ReviewController owns and changes)
    def _clear_review_state(self) -> None:
        self.workspace: Workspace | None = None
        self._dirty = False

    def attach_workspace(self, workspace: Workspace | None) -> None:
        """Use ``workspace`` (or none) as the review state of the open series."""
        self.workspace = workspace
        self.reviewChanged.emit(-1)
        self.sync_dirty()

    def load_review_labels(self, predicted: LabelMap | None, corrected: LabelMap, model_version: str = "") -> None:
        """Show a workspace's saved labels (shared with it, not copied) instead of a prediction."""
        if self.volume is None or corrected.shape != self.volume.shape:
            return
        self.predicted = predicted if predicted is not None and predicted.shape == self.volume.shape else None
        self.corrected = corrected
        self.model_version = model_version or self.model_version
        self.predictionChanged.emit()
        self.labelsChanged.emit(self.full_bbox())

    def review_status(self, z: int) -> str:
        """Review status of slice ``z`` (``unreviewed`` without a workspace)."""
        return self.workspace.status(int(z)) if self.workspace is not None else "unreviewed"

    def review_note(self, z: int) -> str:
        """Note on slice ``z`` ("" for none)."""
        review = self.workspace.reviews.get(int(z)) if self.workspace is not None else None
        return review.note if review is not None else ""

    def review_progress(self) -> tuple[int, int]:
        """(slices reviewed, slices in the volume)."""
        return self.workspace.progress() if self.workspace is not None else (0, self.n_slices)

    def is_protected(self, z: int) -> bool:
        """Whether slice ``z`` keeps its corrected labels when inference runs again (accepted, corrected, edited)."""
        ws = self.workspace
        if ws is None:
            return False
        return ws.status(int(z)) in ("accepted", "corrected") or ws.edit_counts.get(int(z), 0) > 0

    @property
    def dirty(self) -> bool:
        """Unsaved review work (edits, statuses, notes, a new prediction) in the workspace."""
        return self._dirty

    def sync_dirty(self) -> None:
        """Emit ``dirtyChanged`` when the workspace's unsaved state changed."""
        dirty = bool(self.workspace is not None and self.workspace.dirty)
        if dirty != self._dirty:
            self._dirty = dirty
            self.dirtyChanged.emit(dirty)
