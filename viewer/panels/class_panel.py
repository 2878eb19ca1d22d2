"""Classification panel: slice and series Control / CP / COVID-19 probabilities,
a per-slice plot of COVID-19 probability and lesion area (click to jump), the
classifier's note, and the lesion volumes."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from core_models.prediction import CLASS_NAMES, aggregate_class_probs
from viewer.panels.summary import SummaryLabel
from viewer.panels.updates import Throttle
from viewer.session import ReviewSession

MARKER_INTERVAL_MS = 100  # while slices change faster, the plots' slice markers follow at this rate
_NOTE_STYLE = "color: #7a4b00; background: #fff3cd; border: 1px solid #e0b050; padding: 4px;"


def probs_text(probs: np.ndarray | None) -> str:
    """``Control 0.10 · Common pneumonia 0.20 · COVID-19 0.70`` or a dash."""
    if probs is None:
        return "—"
    return "  ·  ".join(f"{name} {p:.2f}" for name, p in zip(CLASS_NAMES, probs))


class ClassPanel(QWidget):
    """Probabilities, the along-z plot and the lesion volume summary."""

    sliceChangeRequested = Signal(int)

    def __init__(self, session: ReviewSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._build()
        self.marker_update = Throttle(self._place_markers, MARKER_INTERVAL_MS, self)
        session.sliceChanged.connect(self._on_slice)
        session.volumeChanged.connect(self.refresh)
        session.predictionChanged.connect(self.refresh)
        session.sliceResultArrived.connect(lambda _z: self.refresh())

    def _build(self) -> None:
        self.slice_label = QLabel()
        self.series_label = QLabel()
        for label in (self.slice_label, self.series_label):
            label.setWordWrap(True)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet(_NOTE_STYLE)
        self.note.setVisible(False)
        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setMinimumHeight(180)
        self.prob_plot = self.plots.addPlot(row=0, col=0)
        self.prob_plot.setLabel("left", "COVID-19 p")
        self.prob_plot.setYRange(0, 1)
        self.area_plot = self.plots.addPlot(row=1, col=0)
        self.area_plot.setLabel("left", "lesion area (mm²)")
        self.area_plot.setLabel("bottom", "slice")
        self.area_plot.setXLink(self.prob_plot)
        self.prob_curve = self.prob_plot.plot([], [], pen=pg.mkPen((230, 40, 60), width=2), symbol="o", symbolSize=4)
        self.area_curve = self.area_plot.plot([], [], pen=pg.mkPen((255, 196, 0), width=2), fillLevel=0,
                                              brush=(255, 196, 0, 60))
        self.markers = [pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("c")) for _ in range(2)]
        self.prob_plot.addItem(self.markers[0])
        self.area_plot.addItem(self.markers[1])
        self.plots.scene().sigMouseClicked.connect(self._on_plot_click)
        self.summary = SummaryLabel(self.session)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<b>This slice</b>"))
        layout.addWidget(self.slice_label)
        layout.addWidget(QLabel("<b>Series</b>"))
        layout.addWidget(self.series_label)
        layout.addWidget(self.note)
        layout.addWidget(self.plots, 1)
        layout.addWidget(self.summary)

    def refresh(self) -> None:
        """Redraw probabilities, note, plot and summary from the session."""
        s = self.session
        result = s.slice_result()
        self.slice_label.setText(probs_text(None if result is None else result.class_probs))
        series = aggregate_class_probs([s.slice_results[k] for k in sorted(s.slice_results)])
        self.series_label.setText(probs_text(series))
        note = s.classifier_note
        self.note.setText(f"Note: {note}" if note else "")
        self.note.setVisible(bool(note))
        zs, covid, area = s.slice_series()
        ok = np.isfinite(covid)
        self.prob_curve.setData(zs[ok], covid[ok])
        self.area_curve.setData(zs, area)
        for m in self.markers:
            m.setPos(s.current_slice)

    def _on_slice(self, z: int) -> None:
        self.marker_update.request()  # moving the markers repaints both plots: throttled while scrolling
        result = self.session.slice_result(z)
        self.slice_label.setText(probs_text(None if result is None else result.class_probs))

    def _place_markers(self) -> None:
        for m in self.markers:
            m.setPos(self.session.current_slice)

    def _on_plot_click(self, event) -> None:
        for plot in (self.prob_plot, self.area_plot):
            if plot.sceneBoundingRect().contains(event.scenePos()):
                x = plot.vb.mapSceneToView(event.scenePos()).x()
                self.sliceChangeRequested.emit(int(round(x)))
                return
