"""Tools panel: editing tool, active label, brush size, HU range, eraser and fill options.

The panel shows the :class:`~viewer.editing.controller.EditController`'s tool
state and forwards the user's choices to it; keyboard shortcuts change the same
state and the panel follows.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QRadioButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core_models.labels import default_label_table
from viewer.editing.controller import TOOLS, EditController, ToolState

TOOL_LABELS = {"navigate": ("Navigate", "Esc"), "brush": ("Brush", "B"), "eraser": ("Eraser", "E"),
               "hu_brush": ("HU brush", "H"), "fill": ("Fill", "G"), "polygon": ("Polygon", "P"),
               "islands": ("Islands", "I")}
LABEL_KEYS = {1: "Q", 2: "W"}
TOOL_HINTS = {
    "navigate": "Left-drag pans, click sets the crosshair, right-drag sets the window.",
    "brush": "Left-drag paints the active label. [ and ] change the size.",
    "eraser": "Left-drag erases labels. [ and ] change the size.",
    "hu_brush": "Left-drag paints the active label only where the CT value is in the range.",
    "fill": "Click fills the connected region (bounded by the label or by the range).",
    "polygon": "Click to add points; double-click or Enter fills, Esc cancels.",
    "islands": "Click a lesion to delete its connected component.",
}
_PRESETS = (("ggo", "GGO  −750 … −300"), ("consolidation", "Consolidation  −150 … +100"), ("custom", "Custom"))
_RANGE_LIMITS = (-1024.0, 3071.0)


def _swatch(rgb: tuple[int, int, int]) -> QIcon:
    pix = QPixmap(12, 12)
    pix.fill(QColor(*rgb))
    return QIcon(pix)


class ToolsPanel(QWidget):
    """Controls for the editing tools of one :class:`EditController`."""

    def __init__(self, controller: EditController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        layout = QVBoxLayout(self)
        layout.addLayout(self._build_tools())
        layout.addLayout(self._build_labels())
        form = QFormLayout()
        self._build_options(form)
        layout.addLayout(form)
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: #666;")
        layout.addWidget(self.hint)
        layout.addStretch(1)
        controller.stateChanged.connect(self.show_state)
        controller.session.volumeChanged.connect(self._on_volume)
        self.show_state(controller.state)
        self._on_volume()

    # -- construction ----------------------------------------------------------------------
    def _build_tools(self) -> QGridLayout:
        grid = QGridLayout()
        self.tool_group = QButtonGroup(self)
        self.tool_buttons: dict[str, QToolButton] = {}
        for i, tool in enumerate(TOOLS):
            name, key = TOOL_LABELS[tool]
            button = QToolButton()
            button.setText(f"{name} ({key})")
            button.setCheckable(True)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            button.clicked.connect(lambda _=False, t=tool: self.controller.set_tool(t))
            self.tool_group.addButton(button)
            self.tool_buttons[tool] = button
            grid.addWidget(button, i // 2, i % 2)
        return grid

    def _build_labels(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(QLabel("Label"))
        column = QVBoxLayout()
        row.addLayout(column)
        self.label_buttons: dict[int, QRadioButton] = {}
        for lab in default_label_table().foreground():
            button = QRadioButton(f"{lab.name} ({LABEL_KEYS.get(lab.value, '')})")
            button.setIcon(_swatch(lab.color))
            button.toggled.connect(lambda on, v=lab.value: on and self.controller.set_label(v))
            self.label_buttons[lab.value] = button
            column.addWidget(button)
        row.addStretch(1)
        return row

    def _build_options(self, form: QFormLayout) -> None:
        self.size = QDoubleSpinBox()
        self.size.setRange(0.5, 100.0)
        self.size.setSingleStep(0.5)
        self.size.setDecimals(1)
        self.size.setSuffix(" mm")
        self.size.valueChanged.connect(self.controller.set_size_mm)
        form.addRow("Size (diameter) [ ]", self.size)
        self.erase_only = QCheckBox("Eraser: only the active label")
        self.erase_only.toggled.connect(self.controller.set_erase_only_active)
        form.addRow(self.erase_only)
        self.preset = QComboBox()
        for key, text in _PRESETS:
            self.preset.addItem(text, key)
        self.preset.activated.connect(lambda _i: self.controller.set_preset(self.preset.currentData()))
        self.range_title = QLabel("HU range")
        form.addRow(self.range_title, self.preset)
        self.range_min, self.range_max = QDoubleSpinBox(), QDoubleSpinBox()
        row = QHBoxLayout()
        for box, title in ((self.range_min, "min"), (self.range_max, "max")):
            box.setRange(*_RANGE_LIMITS)
            box.setDecimals(0)
            box.setSingleStep(10)
            box.valueChanged.connect(self._on_range_edited)
            row.addWidget(QLabel(title))
            row.addWidget(box, 1)
        form.addRow("", row)
        self.range_note = QLabel()
        self.range_note.setWordWrap(True)
        self.range_note.setStyleSheet("color: #a05000;")
        form.addRow(self.range_note)
        self.fill_mode = QComboBox()
        self.fill_mode.addItem("bounded by the label", "label")
        self.fill_mode.addItem("bounded by the range", "range")
        self.fill_mode.activated.connect(lambda _i: self.controller.set_fill_mode(self.fill_mode.currentData()))
        form.addRow("Fill", self.fill_mode)

    # -- state -----------------------------------------------------------------------------
    def show_state(self, state: ToolState) -> None:
        """Show ``state`` without sending it back."""
        widgets = (*self.tool_buttons.values(), *self.label_buttons.values(), self.size, self.erase_only,
                   self.preset, self.range_min, self.range_max, self.fill_mode)
        for widget in widgets:
            widget.blockSignals(True)
        self.tool_buttons[state.tool].setChecked(True)
        if state.label in self.label_buttons:
            self.label_buttons[state.label].setChecked(True)
        self.size.setValue(state.size_mm)
        self.erase_only.setChecked(state.erase_only_active)
        self.preset.setCurrentIndex(max(self.preset.findData(state.preset), 0))
        self.range_min.setValue(state.value_range[0])
        self.range_max.setValue(state.value_range[1])
        self.fill_mode.setCurrentIndex(max(self.fill_mode.findData(state.fill_mode), 0))
        for widget in widgets:
            widget.blockSignals(False)
        self.hint.setText(TOOL_HINTS[state.tool])

    def _on_range_edited(self, _value: float) -> None:
        self.controller.set_range(self.range_min.value(), self.range_max.value(), "custom")

    def _on_volume(self) -> None:
        """8-bit images: the range is in grey values and the HU presets do not apply."""
        volume = self.controller.session.volume
        grey = volume is not None and not volume.is_hu
        self.range_title.setText("Grey range" if grey else "HU range")
        self.range_note.setText("8-bit image: the HU brush and range fill use grey values 0–255, "
                                "not HU." if grey else "")
        self.range_note.setVisible(grey)
        for i, (key, _text) in enumerate(_PRESETS):
            item = self.preset.model().item(i)
            item.setEnabled(key == "custom" or not grey)
        state = self.controller.state
        if grey and state.preset != "custom":
            self.controller.set_range(0.0, 255.0, "custom")
        elif volume is not None and not grey and state.preset == "custom" and state.value_range == (0.0, 255.0):
            self.controller.set_preset("ggo")  # back from an 8-bit image
