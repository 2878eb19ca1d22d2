"""Widgets the training dialogs share (retraining, classifier S, versions).

Read-only tables of folders or versions (:func:`record_table`,
:func:`read_only_item`, :func:`use_item`), the Start / Cancel row, the
Activate / Re-run row and their enabled states (:func:`start_cancel_row`,
:func:`result_row`, :func:`set_run_buttons`), and a wrapped result label.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
)


def record_table(columns: Sequence[str]) -> QTableWidget:
    """A table of whole-row selection, no editing, no row numbers, columns sized to their contents."""
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    return table


def read_only_item(text: str, tip: str = "") -> QTableWidgetItem:
    """A selectable, not editable cell with an optional tooltip."""
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
    if tip:
        item.setToolTip(tip)
    return item


def use_item(checked: bool) -> QTableWidgetItem:
    """The "use" check box cell of a data row."""
    use = QTableWidgetItem()
    use.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsSelectable)
    use.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
    return use


def start_cancel_row(dialog: Any) -> QHBoxLayout:
    """``dialog.start_button`` and ``dialog.cancel_button`` (calling its ``start`` / ``cancel``), right-aligned."""
    dialog.start_button, dialog.cancel_button = QPushButton("Start training"), QPushButton("Cancel training")
    dialog.start_button.clicked.connect(dialog.start)
    dialog.cancel_button.clicked.connect(dialog.cancel)
    buttons = QHBoxLayout()
    buttons.addStretch(1)
    buttons.addWidget(dialog.start_button)
    buttons.addWidget(dialog.cancel_button)
    return buttons


def result_row(dialog: Any) -> QHBoxLayout:
    """``dialog.activate_button`` (its ``activate_new``) and ``dialog.rerun_button``, left-aligned.

    Re-run emits ``dialog.rerunRequested`` with ``dialog.new_version`` (when there is one).
    """
    dialog.activate_button = QPushButton("Activate new version")
    dialog.rerun_button = QPushButton("Re-run on this series")
    dialog.activate_button.clicked.connect(dialog.activate_new)
    dialog.rerun_button.clicked.connect(lambda: dialog.new_version and dialog.rerunRequested.emit(dialog.new_version))
    row = QHBoxLayout()
    row.addWidget(dialog.activate_button)
    row.addWidget(dialog.rerun_button)
    row.addStretch(1)
    return row


def set_run_buttons(dialog: Any, running: bool) -> None:
    """Cancel only while running; Activate and Re-run once a run has registered ``dialog.new_version``."""
    dialog.start_button.setEnabled(not running)
    dialog.cancel_button.setEnabled(running)
    done = not running and dialog.new_version is not None
    dialog.activate_button.setEnabled(done)
    dialog.rerun_button.setEnabled(done)


def result_label(text: str) -> QLabel:
    """A word-wrapped label with room for three lines (wrapped text needs the height)."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setMinimumHeight(3 * label.fontMetrics().lineSpacing())
    return label
