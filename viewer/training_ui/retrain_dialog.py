"""Training → "Retrain from corrections…": settings, live progress, before/after table.

The dialog freezes the chosen corrections into a run folder and starts
``python -m training train …`` as a separate process
(:func:`training.retrain.prepare_run`, :class:`~viewer.training_ui.runner.TrainingRunner`),
so the viewer stays usable and survives a crash of the training. It shows a
progress bar with the time left, loss and validation curves, the log, and
when the run ends the before/after table with Activate and Re-run buttons.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import QDialog, QGroupBox, QLabel, QMessageBox, QSplitter, QVBoxLayout, QWidget

from core_models.errors import LesionLoopError
from training.retrain import STOP_FILE, prepare_run
from viewer.training_ui.compare_table import CompareTable
from viewer.training_ui.dialog_parts import result_label, result_row, set_run_buttons, start_cancel_row
from viewer.training_ui.run_panel import RunPanel
from viewer.training_ui.runner import RunOutcome
from viewer.training_ui.settings_panel import RetrainSettings
from viewer.training_ui.versions_dialog import activate_with_gate

NOTICE_STYLE = "color: #7a4b00; background: #fff3cd; border: 1px solid #e0b050; padding: 4px;"


class RetrainDialog(QDialog):
    """Settings on the left; progress, curves, table and log on the right."""

    versionRegistered = Signal(str)
    activated = Signal(str)
    rerunRequested = Signal(str)

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Retrain from corrections")
        self.resize(1250, 760)
        self.plan = None
        self.outcome: RunOutcome | None = None
        self.new_version: str | None = None
        self.settings_panel = RetrainSettings(settings)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._left())
        splitter.addWidget(self._right())
        splitter.setSizes([640, 610])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        self._connect_runner()
        self._set_running(False)

    def _left(self) -> QWidget:
        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet(NOTICE_STYLE)
        self.notice.setVisible(False)
        buttons = start_cancel_row(self)
        self.start_button.setDefault(True)
        widget = QWidget()
        layout = QVBoxLayout(widget)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.notice)
        layout.addWidget(self.settings_panel, 1)
        layout.addLayout(buttons)
        return widget

    def _right(self) -> QWidget:
        self.run_panel = RunPanel()
        self.runner, self.curves, self.log = self.run_panel.runner, self.run_panel.curves, self.run_panel.log
        self.progress = self.run_panel.progress
        self.table = CompareTable()
        self.verdict = result_label("The before/after table appears when training ends.")
        self.verdict.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        result_buttons = result_row(self)
        result = QGroupBox("Before / after on the same validation slices")
        box = QVBoxLayout(result)
        box.addWidget(self.table)
        box.addWidget(self.verdict)
        box.addLayout(result_buttons)
        self.run_panel.insert_widget(2, result)
        return self.run_panel

    def _connect_runner(self) -> None:
        r = self.runner
        r.compared.connect(self.table.show_table)
        r.registered.connect(self._on_registered)
        r.finished.connect(self._on_finished)

    def set_notice(self, text: str) -> None:
        """A warning above the settings (e.g. unsaved corrections); empty hides it."""
        self.notice.setText(text)
        self.notice.setVisible(bool(text))

    # -- running ---------------------------------------------------------------------------
    def start(self) -> bool:
        """Freeze the data, start the training process; False (and a message) when it cannot start."""
        if self.runner.running:
            return False
        try:
            plan = self.settings_panel.plan()
            args = prepare_run(plan)
        except LesionLoopError as exc:
            QMessageBox.critical(self, "Retraining", str(exc))
            return False
        self.plan, self.outcome, self.new_version = plan, None, None
        self.run_panel.begin(plan.epochs)
        self.table.show_table(None)
        self.verdict.setText(f"run folder: {plan.out}")
        self._set_running(True)
        return self.runner.start_training(args, Path(plan.out) / STOP_FILE)

    def cancel(self) -> None:
        """Graceful stop (stop file), then kill after the grace period."""
        self.runner.cancel()
        self.run_panel.cancelling()

    def _set_running(self, running: bool) -> None:
        self.settings_panel.setEnabled(not running)
        set_run_buttons(self, running)

    def _on_registered(self, version: str) -> None:
        self.new_version = version
        if self.table.table is not None:
            self.table.show_table(self.table.table, after_name=version)
        self.versionRegistered.emit(version)

    def _on_finished(self, outcome: RunOutcome) -> None:
        self.outcome = outcome
        self.run_panel.end(outcome)
        self._set_running(False)
        if outcome.ok:
            self.verdict.setText(self._verdict(outcome))
        elif outcome.stopped:
            self.verdict.setText(outcome.message)
        else:
            self.verdict.setText(f"failed: {outcome.message}")
            QMessageBox.critical(self, "Retraining failed", outcome.message)

    def _verdict(self, outcome: RunOutcome) -> str:
        name = outcome.version or "the new model"
        table = outcome.table
        if table is None:
            return f"{name} is registered (no before/after table: no active version to compare with)."
        row = next(r for r in table["rows"] if r["key"] == "dice_binary")
        if row["change"] is None:
            return f"{name} is registered; binary Dice could not be compared."
        word = "lower" if row["change"] < 0 else "higher"
        gate = " Activating it asks for confirmation." if table.get("worse") else ""
        return (f"{name}: binary Dice {row['after']:.3f}, {abs(row['change']):.3f} {word} than "
                f"{table['before']['version']} on {table['n_slices']} validation slices.{gate}")

    # -- results ---------------------------------------------------------------------------
    def activate_new(self) -> bool:
        """Activate the new version (asks first when the table says it is worse)."""
        if not self.new_version:
            return False
        table = self.outcome.table if self.outcome else None
        if not activate_with_gate(self, self.new_version, table):
            return False
        self.activated.emit(self.new_version)
        self.verdict.setText(f"{self.new_version} is now the active version.")
        return True
