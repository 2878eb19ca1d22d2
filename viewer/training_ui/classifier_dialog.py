"""Training → "Train classifier S…": classification module S on a segmentation model, in its own process.

The same runner, curves and log as retraining
(:class:`~viewer.training_ui.run_panel.RunPanel`); the command is
``python -m training train-classifier …`` (:func:`training.retrain.classifier_args`).
Data are folders of slices with image classes (seed-named images, phantom
folders); the dialog shows how many slices each class has. When the run
ends the new version's validation figures are shown, with Activate and Re-run.
"""
from __future__ import annotations

import shlex
import warnings
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core_models.errors import InputError, LesionLoopError
from core_models.prediction import CLASS_NAMES
from training.retrain import STOP_FILE, ClassifierPlan, class_counts, classifier_args
from viewer.training_ui.curves import CLASSIFIER_PENS
from viewer.training_ui.dialog_parts import (read_only_item, record_table, result_label, result_row, set_run_buttons,
                                             start_cancel_row, use_item)
from viewer.training_ui.run_panel import RunPanel
from viewer.training_ui.runner import RunOutcome
from viewer.training_ui.settings_panel import available_devices
from viewer.training_ui.versions_dialog import activate_with_gate
from viewer.training_ui.workspaces import CLASSIFIER_KEY, forget_workspace, remember_workspace, remembered_folders

COLUMNS = ("use", "folder", *CLASS_NAMES, "note")


def classifier_summary(metrics: dict) -> str:
    """Accuracy, mean sensitivity and the confusion matrix of a version's ``metrics["classifier"]``."""
    figures = metrics.get("classifier") if isinstance(metrics.get("classifier"), dict) else {}
    if "accuracy" not in figures:
        return "no validation figures (no validation folder was given)"
    matrix = figures.get("confusion_matrix")
    text = (f"validation accuracy {figures['accuracy']:.3f}, mean sensitivity "
            f"{figures.get('mean_sensitivity', float('nan')):.3f} on {figures.get('val_slices', '?')} slices")
    return text + (f"; confusion matrix (rows true Control / CP / COVID-19): {matrix}" if matrix else "")


class ClassifierDialog(QDialog):
    """Data folders with class counts and settings on the left; progress and result on the right."""

    versionRegistered = Signal(str)
    activated = Signal(str)
    rerunRequested = Signal(str)

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Train classifier S")
        self.resize(1200, 720)
        self.settings = settings
        self.folders: list[Path] = []
        self.new_version: str | None = None
        self.outcome: RunOutcome | None = None
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._left())
        splitter.addWidget(self._right())
        splitter.setSizes([600, 600])
        QVBoxLayout(self).addWidget(splitter)
        self.runner.registered.connect(self._on_registered)
        self.runner.finished.connect(self._on_finished)
        for folder in remembered_folders(settings, CLASSIFIER_KEY):
            self.add_folder(folder, remember=False)
        self.refresh_models()
        self._set_running(False)

    # -- construction ----------------------------------------------------------------------
    def _left(self) -> QWidget:
        self.table = record_table(COLUMNS)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        add, remove = QPushButton("Add data folder…"), QPushButton("Remove")
        add.clicked.connect(self._add_dialog)
        remove.clicked.connect(self.remove_selected)
        row = QHBoxLayout()
        row.addWidget(add)
        row.addWidget(remove)
        row.addStretch(1)
        data = QGroupBox("Slices with image classes (seed-named images, phantom folders)")
        box = QVBoxLayout(data)
        box.addWidget(self.table, 1)
        box.addLayout(row)
        buttons = start_cancel_row(self)
        widget = QWidget()
        layout = QVBoxLayout(widget)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(data, 1)
        layout.addWidget(self._form())
        layout.addLayout(buttons)
        return widget

    def _form(self) -> QGroupBox:
        self.model_combo, self.epochs, self.lr = QComboBox(), QSpinBox(), QDoubleSpinBox()
        self.epochs.setRange(1, 10_000)
        self.epochs.setValue(10)
        self.lr.setDecimals(6)
        self.lr.setRange(1e-6, 1.0)
        self.lr.setValue(1e-4)
        self.s_only = QCheckBox("train S only (segmentation stays exactly the model's)")
        self.s_only.setChecked(True)
        self.val_folder = QLineEdit()
        self.val_folder.setPlaceholderText("optional validation folder (picks the best epoch)")
        self.device = QComboBox()
        self.device.addItems(available_devices())
        self.extra = QLineEdit()
        self.extra.setPlaceholderText("further `lesionloop train-classifier` options, e.g. --roi-batch 64")
        form_box = QGroupBox("Training")
        form = QFormLayout(form_box)
        for label, widget in (("Segmentation model", self.model_combo), ("Epochs", self.epochs),
                              ("Learning rate", self.lr), ("", self.s_only), ("Validation", self.val_folder),
                              ("Device", self.device), ("Options", self.extra)):
            form.addRow(label, widget)
        return form_box

    def _right(self) -> QWidget:
        self.run_panel = RunPanel(CLASSIFIER_PENS)
        self.runner = self.run_panel.runner
        self.result = result_label("The new version's validation figures appear when training ends.")
        group = QGroupBox("Result")
        box = QVBoxLayout(group)
        box.addWidget(self.result)
        box.addLayout(result_row(self))
        self.run_panel.insert_widget(2, group)
        return self.run_panel

    # -- data and models -------------------------------------------------------------------
    def refresh_models(self) -> None:
        """Offer the loadable versions, the active one first."""
        from viewer.inference_job import available_models

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            choices = available_models()
        self.model_combo.clear()
        for choice in choices:
            self.model_combo.addItem(choice.label, choice.name)

    def add_folder(self, folder: str | Path, remember: bool = True) -> bool:
        """List a data folder with its slices per class (a note when it gives no classes)."""
        folder = Path(folder).expanduser().resolve()
        if folder in self.folders:
            return True
        try:
            counts, note = class_counts(folder), ""
        except LesionLoopError as exc:
            counts, note = dict.fromkeys(CLASS_NAMES, 0), str(exc)
        self.folders.append(folder)
        r = self.table.rowCount()
        self.table.insertRow(r)
        self.table.setItem(r, 0, use_item(not note))
        for col, text in enumerate([folder.name, *(str(counts[n]) for n in CLASS_NAMES), note], start=1):
            item = read_only_item(text, note or str(folder))
            if note and col == len(COLUMNS) - 1:
                item.setForeground(QColor(200, 30, 30))
            self.table.setItem(r, col, item)
        if remember:
            remember_workspace(self.settings, folder, CLASSIFIER_KEY)
        return True

    def _add_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder of slices with image classes")
        if path:
            self.add_folder(path)

    def remove_selected(self) -> None:
        for r in sorted({i.row() for i in self.table.selectionModel().selectedRows()}, reverse=True):
            forget_workspace(self.settings, self.folders.pop(r), CLASSIFIER_KEY)
            self.table.removeRow(r)

    def plan(self) -> ClassifierPlan:
        """The run's settings from the widgets."""
        data = [str(f) for r, f in enumerate(self.folders) if self.table.item(r, 0).checkState() == Qt.CheckState.Checked]
        try:
            extra = shlex.split(self.extra.text())
        except ValueError as exc:
            raise InputError(f"the further options cannot be read: {exc}") from None
        val = self.val_folder.text().strip()
        return ClassifierPlan(data=data, init=self.model_combo.currentData() or "", epochs=self.epochs.value(),
                              lr=float(self.lr.value()), val_paths=[val] if val else [], s_only=self.s_only.isChecked(),
                              device=self.device.currentText(), extra_args=extra)

    # -- running ---------------------------------------------------------------------------
    def start(self) -> bool:
        """Start ``python -m training train-classifier``; False (and a message) when it cannot start."""
        if self.runner.running:
            return False
        try:
            plan = self.plan()
            args = classifier_args(plan)
        except LesionLoopError as exc:
            QMessageBox.critical(self, "Train classifier S", str(exc))
            return False
        self.new_version, self.outcome = None, None
        self.run_panel.begin(plan.epochs)
        self.result.setText(f"run folder: {plan.out}")
        self._set_running(True)
        return self.runner.start_training(args, Path(plan.out) / STOP_FILE)

    def cancel(self) -> None:
        self.runner.cancel()
        self.run_panel.cancelling()

    def _set_running(self, running: bool) -> None:
        for w in (self.table, self.model_combo, self.epochs, self.lr, self.s_only, self.val_folder, self.device,
                  self.extra):
            w.setEnabled(not running)
        set_run_buttons(self, running)

    def _on_registered(self, version: str) -> None:
        self.new_version = version
        self.versionRegistered.emit(version)

    def _on_finished(self, outcome: RunOutcome) -> None:
        from core_models.model_store import version_info

        self.outcome = outcome
        self.run_panel.end(outcome)
        self._set_running(False)
        if outcome.ok and self.new_version:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                metrics = version_info(self.new_version).metrics
            self.result.setText(f"{self.new_version}: {classifier_summary(metrics)}.")
        elif outcome.stopped:
            self.result.setText(outcome.message)
        else:
            self.result.setText(f"failed: {outcome.message}")
            QMessageBox.critical(self, "Training classifier S failed", outcome.message)

    def activate_new(self) -> bool:
        """Activate the new version (through the gate)."""
        if not self.new_version or not activate_with_gate(self, self.new_version):
            return False
        self.activated.emit(self.new_version)
        self.result.setText(f"{self.new_version} is now the active version.")
        return True
