"""Overlay controls: per-class visibility, opacity, filled/outline, prediction/corrected."""
from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPixmap, QIcon
from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QSlider, QWidget

from core_models.labels import default_label_table
from viewer.overlays import OverlayStyle


class DisplayPanel(QWidget):
    """Emits ``styleChanged`` with a new :class:`OverlayStyle` on every change."""

    styleChanged = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.style_ = OverlayStyle()
        layout = QFormLayout(self)
        self.class_boxes: dict[int, QCheckBox] = {}
        for lab in default_label_table().foreground():
            box = QCheckBox(lab.name)
            box.setChecked(True)
            pix = QPixmap(12, 12)
            pix.fill(QColor(*lab.color))
            box.setIcon(QIcon(pix))
            box.toggled.connect(lambda on, v=lab.value: self._set_visible(v, on))
            self.class_boxes[lab.value] = box
            layout.addRow(box)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(int(self.style_.opacity * 100))
        self.opacity.valueChanged.connect(lambda v: self._update(opacity=v / 100.0))
        layout.addRow("Opacity", self.opacity)
        self.outline = QCheckBox("Outline only")
        self.outline.toggled.connect(lambda on: self._update(outline=on))
        layout.addRow(self.outline)
        self.source = QComboBox()
        self.source.addItem("Prediction", "prediction")
        self.source.addItem("Corrected", "corrected")
        self.source.currentIndexChanged.connect(lambda _i: self._update(source=self.source.currentData()))
        layout.addRow("Show", self.source)

    def _set_visible(self, value: int, on: bool) -> None:
        visible = dict(self.style_.visible)
        visible[value] = on
        self._update(visible=visible)

    def _update(self, **changes) -> None:
        self.style_ = replace(self.style_, **changes)
        self.styleChanged.emit(self.style_)
