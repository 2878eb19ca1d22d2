"""Model versions: list them, activate one (with the worse-than-parent gate), roll back.

The registry's write side is :mod:`training.registry`; activating a version
that scored lower than the model it was compared with (its parent, or the
"before" column of its before/after table) asks for confirmation first.
"""
from __future__ import annotations

import warnings
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core_models.errors import LesionLoopError
from core_models.model_store import VersionInfo, list_versions, read_active_state
from training.compare import GATE_METRIC, is_worse
from viewer.training_ui.dialog_parts import read_only_item, record_table

COLUMNS = ("version", "state", "parent", "created", "Dice GGO", "Dice cons.", "binary Dice", "mAP", "data")
SUMMARY_COLUMNS = ("dice_ggo", "dice_consolidation", "dice_binary", "map")


def stored_warning(info: VersionInfo) -> str | None:
    """Why activating ``info`` needs a confirmation according to its own before/after table, or ``None``."""
    scored = info.metrics.get("compared_with")
    if not isinstance(scored, dict) or not is_worse(scored, info.metrics):
        return None
    return (f"{info.version} has binary Dice {info.metrics[GATE_METRIC]:.3f}, lower than "
            f"{scored.get('version')} ({scored[GATE_METRIC]:.3f}) on the same validation slices")


def table_warning(table: dict[str, Any]) -> str | None:
    """The same from a before/after table just computed."""
    if not table.get("worse"):
        return None
    before, after = table["before"]["summary"][GATE_METRIC], table["after"]["summary"][GATE_METRIC]
    return (f"the new version has binary Dice {after:.3f}, lower than {table['before']['version']} "
            f"({before:.3f}) on the same validation slices")


def _confirm(parent: QWidget | None, warning: str) -> bool:
    answer = QMessageBox.question(parent, "Activate a version that scored lower?", f"{warning}.\n\nActivate it anyway?",
                                  QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                  QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


def activate_with_gate(parent: QWidget | None, version: str, table: dict[str, Any] | None = None) -> bool:
    """Activate ``version``; ask first when it scored lower than its parent / the model it was compared with.

    Returns whether it is now active. Errors are shown as a message box.
    """
    from core_models.model_store import version_info
    from training.registry import ActivationRefused, activate

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            warning = table_warning(table) if table else stored_warning(version_info(version))
        if warning and not _confirm(parent, warning):
            return False
        try:
            activate(version, force=bool(warning))
        except ActivationRefused as exc:
            if not _confirm(parent, str(exc)):
                return False
            activate(version, force=True)
    except LesionLoopError as exc:
        QMessageBox.critical(parent, "LesionLoop", str(exc))
        return False
    return True


def rollback_to(parent: QWidget | None, version: str | None = None) -> str | None:
    """Roll back to ``version`` (default: the previously active one); the version now active, or ``None``."""
    from training.registry import rollback

    try:
        return rollback(version)
    except LesionLoopError as exc:
        QMessageBox.critical(parent, "LesionLoop", str(exc))
        return None


class VersionsDialog(QDialog):
    """The registry's versions with Activate, Roll back to and Re-run buttons."""

    versionsChanged = Signal(str)  # the version now active
    rerunRequested = Signal(str)  # run this version on the open series

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Model versions")
        self.resize(980, 380)
        self.table = record_table(COLUMNS)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.note = QLabel("Activate: use the selected version from now on (asks first when it scored lower than "
                           "the model it was compared with). Roll back: return to an earlier active version.")
        self.note.setWordWrap(True)
        self.activate_button = QPushButton("Activate")
        self.rollback_button = QPushButton("Roll back to this version")
        self.rerun_button = QPushButton("Re-run on this series")
        close = QPushButton("Close")
        self.activate_button.clicked.connect(self.activate_selected)
        self.rollback_button.clicked.connect(self.rollback_selected)
        self.rerun_button.clicked.connect(lambda: self.selected() and self.rerunRequested.emit(self.selected()))
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        for b in (self.activate_button, self.rollback_button, self.rerun_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.note)
        layout.addLayout(buttons)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the registry."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state = read_active_state()
            versions = list_versions(state)
        selected = self.selected()
        self.versions = versions
        self.table.setRowCount(len(versions))
        for row, info in enumerate(versions):
            self._fill_row(row, info, state.history)
            if info.version == selected:
                self.table.selectRow(row)
        self._update_buttons()

    def _fill_row(self, row: int, info: VersionInfo, history: list[str]) -> None:
        state = "active" if info.active else ("earlier active" if info.version in history else "")
        if info.broken:
            state = "broken"
        cells = [info.version, state, info.parent or "", (info.created or "")[:16].replace("T", " ")]
        cells += ["–" if info.summary.get(k) is None else f"{info.summary[k]:.3f}" for k in SUMMARY_COLUMNS]
        cells.append(info.data_hash or "")
        for col, text in enumerate(cells):
            item = read_only_item(text, info.problem or info.notes)
            if info.active:
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            if info.broken:
                item.setForeground(QColor(150, 150, 150))
            self.table.setItem(row, col, item)

    def selected(self) -> str | None:
        """The selected version's name."""
        rows = self.table.selectionModel().selectedRows()
        return self.versions[rows[0].row()].version if rows else None

    def select(self, version: str) -> bool:
        """Select ``version``'s row; False when it is not listed."""
        for row, info in enumerate(self.versions):
            if info.version == version:
                self.table.selectRow(row)
                return True
        return False

    def _update_buttons(self) -> None:
        name = self.selected()
        info = next((v for v in self.versions if v.version == name), None)
        usable = info is not None and not info.broken
        self.activate_button.setEnabled(usable and not info.active)
        self.rollback_button.setEnabled(usable and not info.active)
        self.rerun_button.setEnabled(usable)

    def activate_selected(self) -> bool:
        """Activate the selected version (the gate may ask)."""
        name = self.selected()
        if name is None or not activate_with_gate(self, name):
            return False
        self.refresh()
        self.versionsChanged.emit(name)
        return True

    def rollback_selected(self) -> bool:
        """Roll back to the selected (earlier active) version."""
        name = self.selected()
        now = rollback_to(self, name) if name else None
        if now is None:
            return False
        self.refresh()
        self.versionsChanged.emit(now)
        return True
