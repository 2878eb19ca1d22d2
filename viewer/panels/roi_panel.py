"""RoI panel: the slice's detections (class, score), a minimum-score slider and
the selected RoI's score map (its 28×28 mask logits pasted into its box)."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from core_models.labels import default_label_table
from core_models.roi_maps import paste_logits
from viewer.session import ReviewSession

Box = tuple[tuple[float, float, float, float], tuple[int, int, int], bool]


class RoiPanel(QWidget):
    """List of the current slice's RoIs; selecting one shows its score map."""

    roiSelectionRequested = Signal(object)  # RoI index or None
    boxesChanged = Signal(object)  # list[Box] for the axial view
    roiAcceptRequested = Signal(int)  # keep the selected RoI's pixels and mark it confirmed
    roiRejectRequested = Signal(int)  # remove the selected RoI's pixels (one undoable edit)

    def __init__(self, session: ReviewSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.min_score = 0.5
        self.table = default_label_table()
        self._build()
        session.sliceChanged.connect(lambda _z: self.refresh())
        session.volumeChanged.connect(self.refresh)
        session.predictionChanged.connect(self.refresh)
        session.sliceResultArrived.connect(self._on_result)
        session.roiSelected.connect(self._on_selected)

    def _build(self) -> None:
        self.list = QListWidget()
        self.list.currentRowChanged.connect(self._on_row)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 100)
        self.slider.setValue(int(self.min_score * 100))
        self.slider.valueChanged.connect(self._on_min_score)
        self.slider_label = QLabel()
        self.map_title = QLabel("select a RoI to see its score map")
        self.map_view = pg.GraphicsLayoutWidget()
        self.map_view.setMinimumHeight(160)
        self.map_plot = self.map_view.addPlot()
        self.map_plot.setAspectLocked(True)
        self.map_plot.invertY(True)
        self.map_plot.hideButtons()
        self.map_image = pg.ImageItem(axisOrder="row-major")
        self.map_plot.addItem(self.map_image)
        self.colorbar = pg.ColorBarItem(values=(-4, 4), colorMap=pg.colormap.get("viridis"),
                                        interactive=False, label="mask logit")
        self.colorbar.setImageItem(self.map_image, insert_in=self.map_plot)
        row = QHBoxLayout()
        row.addWidget(QLabel("min score"))
        row.addWidget(self.slider, 1)
        row.addWidget(self.slider_label)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list, 1)
        layout.addLayout(row)
        layout.addLayout(self._build_decision_row())
        layout.addWidget(self.map_title)
        layout.addWidget(self.map_view, 1)
        self._update_slider_label()

    def _build_decision_row(self) -> QHBoxLayout:
        self.accept_button = QPushButton("Accept RoI")
        self.accept_button.setToolTip("Keep the selected RoI's pixels and mark it confirmed")
        self.reject_button = QPushButton("Reject RoI")
        self.reject_button.setToolTip("Remove the selected RoI's pixels from the corrected labels (undoable)")
        self.accept_button.clicked.connect(lambda: self._decide(self.roiAcceptRequested))
        self.reject_button.clicked.connect(lambda: self._decide(self.roiRejectRequested))
        row = QHBoxLayout()
        row.addWidget(self.accept_button)
        row.addWidget(self.reject_button)
        self._enable_decisions()
        return row

    def _decide(self, signal) -> None:
        if self.session.selected_roi is not None:
            signal.emit(int(self.session.selected_roi))

    def _enable_decisions(self) -> None:
        on = self.session.selected_roi is not None
        self.accept_button.setEnabled(on)
        self.reject_button.setEnabled(on)

    def visible_rois(self) -> list[int]:
        """Indices of the current slice's RoIs at or above the minimum score."""
        result = self.session.slice_result()
        if result is None:
            return []
        return [i for i, roi in enumerate(result.rois) if roi.score >= self.min_score]

    def refresh(self) -> None:
        """Rebuild the list and the boxes for the current slice."""
        result = self.session.slice_result()
        rows = [(i, f"#{i}  {self._name(result.rois[i].label)}  score {result.rois[i].score:.2f}")
                for i in self.visible_rois()]
        self.list.blockSignals(True)
        self._set_rows(rows)
        self.list.blockSignals(False)
        self._select_row(self.session.selected_roi)
        self._show_map(self.session.selected_roi)
        self._enable_decisions()
        self.boxesChanged.emit(self.boxes())

    def _set_rows(self, rows: list[tuple[int, str]]) -> None:
        """Show (RoI index, text) rows, reusing the items: a row that did not change is not repainted."""
        while self.list.count() > len(rows):
            self.list.takeItem(self.list.count() - 1)
        for r, (index, text) in enumerate(rows):
            item = self.list.item(r)
            if item is None:
                item = QListWidgetItem()
                self.list.addItem(item)
            if item.text() != text:
                item.setText(text)
            if item.data(Qt.ItemDataRole.UserRole) != index:
                item.setData(Qt.ItemDataRole.UserRole, index)

    def boxes(self) -> list[Box]:
        result = self.session.slice_result()
        if result is None:
            return []
        return [(result.rois[i].box, self._color(result.rois[i].label), i == self.session.selected_roi)
                for i in self.visible_rois()]

    def _name(self, value: int) -> str:
        try:
            return self.table.by_value(value).name
        except KeyError:
            return f"label {value}"

    def _color(self, value: int) -> tuple[int, int, int]:
        try:
            return self.table.by_value(value).color
        except KeyError:
            return (255, 255, 255)

    def _on_result(self, z: int) -> None:
        if z == self.session.current_slice:
            self.refresh()

    def _on_row(self, row: int) -> None:
        item = self.list.item(row) if row >= 0 else None
        self.roiSelectionRequested.emit(None if item is None else int(item.data(Qt.ItemDataRole.UserRole)))

    def _on_selected(self, index: int | None) -> None:
        self._select_row(index)
        self._show_map(index)
        self._enable_decisions()
        self.boxesChanged.emit(self.boxes())

    def _select_row(self, index: int | None) -> None:
        self.list.blockSignals(True)
        rows = [r for r in range(self.list.count())
                if self.list.item(r).data(Qt.ItemDataRole.UserRole) == index]
        self.list.setCurrentRow(rows[0] if rows else -1)
        self.list.blockSignals(False)

    def _on_min_score(self, value: int) -> None:
        self.min_score = value / 100.0
        self._update_slider_label()
        if self.session.selected_roi is not None and self.session.selected_roi not in self.visible_rois():
            self.roiSelectionRequested.emit(None)
        self.refresh()

    def _update_slider_label(self) -> None:
        self.slider_label.setText(f"{self.min_score:.2f}")

    def score_map(self, index: int) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
        """The pasted logits of RoI ``index`` of the current slice and their window (y0, y1, x0, x1)."""
        result = self.session.slice_result()
        if result is None or self.session.volume is None or not 0 <= index < len(result.rois):
            return None
        roi = result.rois[index]
        return paste_logits(roi.mask_logits, roi.box, self.session.volume.shape[1:])

    def _show_map(self, index: int | None) -> None:
        pasted = None if index is None else self.score_map(index)
        if pasted is None or pasted[0].size == 0:
            if self.map_image.image is not None:  # clearing an empty map would still repaint its plot
                self.map_image.clear()
            self.map_title.setText("select a RoI to see its score map")
            return
        crop, (y0, y1, x0, x1) = pasted
        self.map_image.setImage(crop, autoLevels=False)
        self.map_image.setRect(x0, y0, x1 - x0, y1 - y0)
        bound = float(max(np.abs(crop).max(), 1e-3))
        self.colorbar.setLevels((-bound, bound))
        self.map_plot.autoRange()
        roi = self.session.slice_result().rois[index]
        self.map_title.setText(f"RoI #{index}: {self._name(roi.label)}, score {roi.score:.2f}, "
                               f"box x {x0}-{x1}, y {y0}-{y1} px")
