"""The live side of a training dialog: progress bar with time left, curves and log, fed by a runner."""
from __future__ import annotations

from typing import Any

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QPlainTextEdit, QProgressBar, QVBoxLayout, QWidget

from viewer.training_ui.curves import METRIC_PENS, CurvesWidget
from viewer.training_ui.runner import RunOutcome, TrainingRunner, format_seconds

LOG_LINES = 5000


class RunPanel(QWidget):
    """Progress, curves and log of one :class:`TrainingRunner` (``self.runner``)."""

    def __init__(self, metrics: dict[str, tuple[str, tuple[int, int, int]]] = METRIC_PENS,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = TrainingRunner(self)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("not started")
        self.curves = CurvesWidget(metrics)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(LOG_LINES)
        self.log.setPlaceholderText("training log")
        self.log.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        self.layout_.addWidget(self.progress)
        self.layout_.addWidget(self.curves, 3)
        self.layout_.addWidget(self.log, 2)
        self.epochs = 0
        self._epoch_now = 0
        r = self.runner
        r.logLine.connect(self.log.appendPlainText)
        r.event.connect(self._on_event)
        r.stepped.connect(self._on_step)
        r.epochEnded.connect(self.curves.add_epoch)

    def insert_widget(self, index: int, widget: QWidget, stretch: int = 0) -> None:
        """Put ``widget`` into the column (0 progress, 1 curves, 2 log)."""
        self.layout_.insertWidget(index, widget, stretch)

    def begin(self, epochs: int) -> None:
        """A new run: empty curves and log, a busy bar."""
        self.epochs, self._epoch_now = epochs, 0
        self.curves.clear()
        self.log.clear()
        self.progress.setRange(0, 0)
        self.progress.setFormat("starting the training process…")

    def cancelling(self) -> None:
        self.progress.setFormat("cancelling…")

    def end(self, outcome: RunOutcome) -> None:
        """Show how the run ended on the bar."""
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if outcome.ok else 0)
        self.progress.setFormat(outcome.message[:120])

    def _on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "start":
            self.epochs = int(event.get("epochs") or self.epochs)
            self.progress.setRange(0, max(1, int(event.get("total_steps") or 1)))
            self.progress.setValue(int(event.get("start_step") or 0))
            self.progress.setFormat(f"training on {event.get('device')}…")
        elif kind == "step":
            self.curves.add_step(int(event.get("step") or 0), dict(event.get("losses") or {}))
            self._epoch_now = int(event.get("epoch") or 0)
        elif kind == "stage":
            self.progress.setRange(0, 0)
            self.progress.setFormat(str(event.get("message") or ""))

    def _on_step(self, step: int, total: int, left: float) -> None:
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(min(step, total))
        eta = f" · {format_seconds(left)} left" if left >= 0 else ""
        self.progress.setFormat(f"epoch {self._epoch_now}/{self.epochs} · step {step}/{total}{eta}")
