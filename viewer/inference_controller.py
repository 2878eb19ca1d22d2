"""Toolbar side of inference: model picker, Run / Cancel, progress, device.

Runs :func:`viewer.inference_job.inference_job` through a
:class:`~viewer.workers.JobRunner`; slice results go into the session on the
GUI thread as they arrive; a new run supersedes the old one.

``lungs_action`` (Model → Restrict lesions to the lungs) applies to the next
run. Until the user sets it, it follows the chosen model's spec
(``restrict_to_lungs``); the user's choice is remembered in the settings.
"""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QProgressBar

from core_models.errors import LesionLoopError
from core_models.prediction import Prediction, SliceResult
from viewer.inference_job import available_models, centre_out_order, device_name, inference_job
from viewer.session import ReviewSession
from viewer.workers import JobRunner

LUNGS_KEY = "inference/restrict_to_lungs"


class InferenceController(QObject):
    """Owns the model combo box, the progress bar and the job runner."""

    statusMessage = Signal(str)
    deviceChanged = Signal(str)
    errored = Signal(str)
    runFinished = Signal(object)  # the Prediction
    runningChanged = Signal(bool)

    def __init__(self, session: ReviewSession, parent: QObject | None = None,
                 settings: QSettings | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.settings = settings
        self.runner = JobRunner(self)
        self.combo = QComboBox()
        self.combo.setMinimumWidth(160)
        self.combo.setToolTip("Model version (the active one first)")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.setVisible(False)
        self.device = "auto"
        self._started_at = 0.0
        self.runner.progress.connect(self._on_progress)
        self.runner.yielded.connect(self._on_yielded)
        self.runner.finished.connect(self._on_finished)
        self.runner.errored.connect(self._on_error)
        self.runner.stopped.connect(lambda: self._set_running(False))
        self.lungs_action = QAction("Restrict lesions to the lungs", self)
        self.lungs_action.setCheckable(True)
        self.lungs_action.setToolTip("Drop predicted lesions mostly outside the lungs (HU volumes only); "
                                     "applies to the next run")
        self.lungs_action.triggered.connect(self._remember_lungs)
        self.combo.currentIndexChanged.connect(lambda _i: self.sync_lungs())
        self.refresh_models()
        self.sync_lungs()

    @property
    def running(self) -> bool:
        return self.runner.busy

    def refresh_models(self) -> int:
        """Fill the picker with the loadable versions; returns how many there are."""
        current = self.combo.currentData()
        self.combo.clear()
        for choice in available_models():
            self.combo.addItem(choice.label, str(choice.path))
        if current:
            index = self.combo.findData(current)
            if index >= 0:
                self.combo.setCurrentIndex(index)
        self.combo.setEnabled(self.combo.count() > 0)
        if self.combo.count() == 0:
            self.combo.addItem("no model available", "")
        return sum(1 for i in range(self.combo.count()) if self.combo.itemData(i))

    def add_model(self, folder: str | Path, label: str | None = None) -> None:
        """Put a model folder (e.g. from ``--model``) at the top of the picker and select it."""
        folder = str(Path(folder))
        if not self.combo.itemData(0):
            self.combo.clear()
        index = self.combo.findData(folder)
        if index < 0:
            self.combo.insertItem(0, label or Path(folder).name, folder)
            index = 0
        self.combo.setEnabled(True)
        self.combo.setCurrentIndex(index)

    def run(self) -> bool:
        """Start inference with the chosen model on the session's volume; False when it cannot."""
        volume = self.session.volume
        model_dir = self.combo.currentData()
        if volume is None:
            self.errored.emit("open a CT first")
            return False
        if not model_dir:
            self.errored.emit("no model available: train one with `lesionloop train` or pass --model FOLDER")
            return False
        try:
            note, version = _spec_facts(Path(model_dir))
            self.deviceChanged.emit(device_name(self.device))
        except LesionLoopError as exc:
            self.errored.emit(str(exc))
            return False
        self.session.begin_prediction(version, note)
        order = centre_out_order(volume.shape[0], self.session.current_slice)
        self._started_at = time.perf_counter()
        self.progress.setRange(0, volume.shape[0])
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.runner.start(inference_job(Path(model_dir), volume, device=self.device, slice_order=order,
                                        restrict_to_lungs=self.lungs_action.isChecked()))
        self._set_running(True)
        return True

    def sync_lungs(self) -> None:
        """Check ``lungs_action`` as the user last set it, else as the chosen model's spec says."""
        stored = self.settings.value(LUNGS_KEY, None) if self.settings is not None else None
        if stored is None:
            wanted = _spec_lungs(self.combo.currentData())
        else:
            wanted = stored is True or str(stored).lower() == "true"
        self.lungs_action.setChecked(wanted)

    def _remember_lungs(self, checked: bool) -> None:
        if self.settings is not None:
            self.settings.setValue(LUNGS_KEY, bool(checked))
            self.settings.sync()

    def cancel(self) -> None:
        """Stop after the current batch; the slices done stay."""
        if self.running:
            self.runner.cancel()
            self.statusMessage.emit("cancelling: the slices done so far are kept")

    def supersede(self) -> None:
        """Drop the running job entirely (a new volume was opened)."""
        self.runner.supersede()
        self.progress.setVisible(False)

    def _set_running(self, running: bool) -> None:
        self.runningChanged.emit(running)

    def _on_progress(self, done: int, total: int, message: str) -> None:
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
        self.progress.setFormat(f"{done}/{total} slices" + (f", {_eta(message)}" if _eta(message) else ""))
        self.statusMessage.emit(message)

    def _on_yielded(self, item: object) -> None:
        if isinstance(item, SliceResult):
            self.session.add_slice_result(item)

    def _on_finished(self, prediction: object) -> None:
        if not isinstance(prediction, Prediction):
            return
        self.session.finish_prediction(prediction)
        self.progress.setVisible(False)
        self.deviceChanged.emit(prediction.device)
        took = time.perf_counter() - self._started_at
        state = "done" if prediction.complete else "cancelled"
        said = prediction.warnings[-1:] or prediction.notes[-1:]
        warn = f"; {said[0]}" if said else ""
        self.statusMessage.emit(f"inference {state}: {len(prediction.slices)}/{prediction.labels.shape[0]} slices "
                                f"in {took:.1f} s with {prediction.model_version}{warn}")
        self.runFinished.emit(prediction)

    def _on_error(self, message: str) -> None:
        self.progress.setVisible(False)
        self.errored.emit(f"inference failed: {message}")


def _eta(message: str) -> str:
    """The ``N s left`` part of a core progress message."""
    return message.split(", ", 1)[1] if ", " in message and message.endswith("left") else ""


def _spec_lungs(folder: str | None) -> bool:
    """The ``restrict_to_lungs`` of the model in ``folder`` (False when there is none or it is unreadable)."""
    from core_models.checkpoints import read_spec

    if not folder:
        return False
    try:
        return read_spec(Path(folder)).restrict_to_lungs
    except LesionLoopError:
        return False


def _spec_facts(folder: Path) -> tuple[str, str]:
    """(classifier note, version name) from a model folder's spec.json."""
    from core_models.checkpoints import read_spec
    from core_models.inference import classifier_note

    spec = read_spec(folder)
    return classifier_note(spec), spec.metadata.version or folder.name
