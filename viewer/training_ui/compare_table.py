"""The before/after table: the active version and the new one on the same validation slices."""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from training.compare import TABLE_ROWS

WORSE = QColor(200, 30, 30)
BETTER = QColor(0, 130, 50)


def _cell(text: str, colour: QColor | None = None) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
    if colour is not None:
        item.setForeground(colour)
    return item


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


class CompareTable(QTableWidget):
    """Rows: Dice GGO, Dice consolidation, binary Dice, mask mAP; columns: before, after, change."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(len(TABLE_ROWS), 3, parent)
        self.setVerticalHeaderLabels(list(TABLE_ROWS.values()))
        self.setHorizontalHeaderLabels(["before", "after", "change"])
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table: dict[str, Any] | None = None
        self.show_table(None)

    def _fit_height(self) -> None:
        rows = sum(self.rowHeight(r) for r in range(self.rowCount()))
        self.setFixedHeight(rows + self.horizontalHeader().sizeHint().height() + 2 * self.frameWidth() + 2)

    def show_table(self, table: dict[str, Any] | None, after_name: str | None = None) -> None:
        """Fill from a :func:`training.compare.compare_models` result (``None``: empty).

        ``after_name`` names the new model's column (e.g. its registered version).
        """
        self.table = table
        if table is None:
            self.setHorizontalHeaderLabels(["before\n", "after\n", "change\n"])
            for r in range(self.rowCount()):
                for c in range(3):
                    self.setItem(r, c, _cell("–"))
            self._fit_height()
            return
        self.setHorizontalHeaderLabels([f"before\n{table['before']['version']}",
                                        f"after\n{after_name or table['after']['version']}", "change\n"])
        self._fit_height()
        for r, row in enumerate(table["rows"]):
            change = row["change"]
            colour = None if change is None or change == 0 else (BETTER if change > 0 else WORSE)
            self.setItem(r, 0, _cell(_num(row["before"])))
            self.setItem(r, 1, _cell(_num(row["after"]), colour))
            self.setItem(r, 2, _cell("–" if change is None else f"{change:+.3f}", colour))
