"""Review panel: every axial slice with its review status, lesion area and note.

A passive widget: it shows the session's review state and emits intents
(jump to a slice, set a status, edit a note, go to the next unreviewed or
flagged slice); :mod:`viewer.review_ui` turns them into controller calls.
The table is sortable on every column; double-clicking a row jumps there.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from viewer.panels.updates import Throttle
from viewer.session import ReviewSession

STATUS_ORDER = ("unreviewed", "accepted", "corrected", "flagged")
#: status → RGB shown in the status column
STATUS_COLOURS: dict[str, tuple[int, int, int]] = {
    "unreviewed": (140, 140, 140), "accepted": (40, 160, 80), "corrected": (50, 120, 220), "flagged": (230, 130, 20)}
COLUMNS = ("slice", "status", "lesion area mm²", "note")
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
AREA_DELAY_MS = 150  # coalesce lesion-area updates while a brush stroke paints
SELECT_INTERVAL_MS = 100  # while slices change faster, the table's selection and scroll follow at this rate


class ReviewTableModel(QAbstractTableModel):
    """One row per axial slice z: slice number (1-based), status, lesion area (mm²), note."""

    def __init__(self, session: ReviewSession, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self.areas = np.zeros(0, dtype=float)
        self._rows = 0  # slices of the volume shown (cached: Qt asks very often)

    # -- Qt model API ------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else self._rows

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        z, col = index.row(), index.column()
        status = self.session.review_status(z)
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(z, col, status)
        if role == SORT_ROLE:
            return (z, STATUS_ORDER.index(status), self._area(z), self.session.review_note(z).lower())[col]
        if role == Qt.ItemDataRole.ForegroundRole and col == 1:
            return QBrush(QColor(*STATUS_COLOURS.get(status, (0, 0, 0))))
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (0, 2):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and col == 3:
            return self.session.review_note(z) or None
        return None

    def _display(self, z: int, col: int, status: str) -> str:
        if col == 0:
            return str(z + 1)
        if col == 1:
            return status
        if col == 2:
            return f"{self._area(z):.1f}"
        return self.session.review_note(z)

    def _area(self, z: int) -> float:
        return float(self.areas[z]) if z < self.areas.size else 0.0

    # -- updates -----------------------------------------------------------------------------
    def reset(self) -> None:
        """Rebuild after a new volume or new label maps."""
        self.beginResetModel()
        self._rows = self.session.n_slices
        self.areas = np.zeros(self._rows, dtype=float)
        self.update_areas(0, self._rows, notify=False)
        self.endResetModel()

    def update_areas(self, z0: int, z1: int, notify: bool = True) -> None:
        """Recompute the lesion area (mm², all non-zero labels) of slices ``z0:z1``."""
        labels = self.session.labels("corrected")
        if labels is None:
            labels = self.session.labels("prediction")
        z0, z1 = max(0, z0), min(z1, self.areas.size)
        if z1 <= z0:
            return
        if labels is None:
            self.areas[z0:z1] = 0.0
        else:
            _, sy, sx = labels.geometry.spacing
            counts = [np.count_nonzero(labels.array[z]) for z in range(z0, z1)]  # per slice: SIMD, no temporaries
            self.areas[z0:z1] = np.asarray(counts, dtype=float) * (sy * sx)
        if notify:
            self.dataChanged.emit(self.index(z0, 2), self.index(z1 - 1, 2))

    def refresh_rows(self, z0: int, z1: int) -> None:
        """Status and note of slices ``z0:z1`` changed (the slice column never does: no re-sort by it)."""
        z0, z1 = max(0, z0), min(z1, self._rows)
        if z1 > z0:
            self.dataChanged.emit(self.index(z0, 1), self.index(z1 - 1, len(COLUMNS) - 1))


class ReviewPanel(QWidget):
    """Sortable review list, next-unreviewed / next-flagged, accept / flag, note editor."""

    sliceChangeRequested = Signal(int)
    statusRequested = Signal(str)  # "accepted" or "flagged", for the current slice
    nextRequested = Signal(str)  # "unreviewed" or "flagged"
    noteEdited = Signal(int, str)  # z, note

    def __init__(self, session: ReviewSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.model = ReviewTableModel(session, self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self._pending: set[int] = set()
        self._note_z = 0
        self._area_timer = QTimer(self)
        self._area_timer.setSingleShot(True)
        self._area_timer.setInterval(AREA_DELAY_MS)
        self._area_timer.timeout.connect(self._flush_areas)
        self.selection = Throttle(self._select_current, SELECT_INTERVAL_MS, self)
        self._build()
        session.volumeChanged.connect(self._reset)
        session.predictionChanged.connect(self._reset_areas)
        session.labelsChanged.connect(self._on_labels)
        session.reviewChanged.connect(self._on_review)
        session.sliceChanged.connect(self._on_slice)

    def _build(self) -> None:
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(20)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)  # sized once per volume, not per change
        header.setStretchLastSection(True)
        self.setMinimumWidth(380)  # slice, status, area and the start of the note stay readable
        self.table.doubleClicked.connect(self._on_double_click)
        self.progress_label = QLabel("no series open")
        self.accept_button = QPushButton("Accept (A)")
        self.flag_button = QPushButton("Flag (F)")
        self.next_button = QPushButton("Next unreviewed (N)")
        self.next_flagged_button = QPushButton("Next flagged")
        self.accept_button.clicked.connect(lambda: self.statusRequested.emit("accepted"))
        self.flag_button.clicked.connect(lambda: self.statusRequested.emit("flagged"))
        self.next_button.clicked.connect(lambda: self.nextRequested.emit("unreviewed"))
        self.next_flagged_button.clicked.connect(lambda: self.nextRequested.emit("flagged"))
        for button in (self.accept_button, self.flag_button, self.next_button, self.next_flagged_button):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys keep going to the views
        self.note = QLineEdit()
        self.note.setPlaceholderText("note for this slice (Enter keeps it)")
        self.note.editingFinished.connect(self._on_note)
        status_row, next_row = QHBoxLayout(), QHBoxLayout()
        status_row.addWidget(self.accept_button)
        status_row.addWidget(self.flag_button)
        next_row.addWidget(self.next_button)
        next_row.addWidget(self.next_flagged_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.progress_label)
        layout.addLayout(status_row)
        layout.addLayout(next_row)
        layout.addWidget(self.note)
        layout.addWidget(self.table, 1)

    # -- reading -----------------------------------------------------------------------------
    def row_of(self, z: int) -> int:
        """The table row (after sorting) that shows slice ``z``; -1 if none."""
        return self.proxy.mapFromSource(self.model.index(int(z), 0)).row()

    def slice_at(self, row: int) -> int:
        """The slice index z shown in table row ``row``."""
        return self.proxy.mapToSource(self.proxy.index(row, 0)).row()

    # -- slots -------------------------------------------------------------------------------
    def _reset(self) -> None:
        self._pending.clear()
        self.model.reset()
        for col in range(len(COLUMNS) - 1):
            self.table.resizeColumnToContents(col)
        self._note_z = -1  # the old series' note is not carried over
        self._on_review(-1)
        self._on_slice(self.session.current_slice)

    def _reset_areas(self) -> None:
        self._pending.update(range(self.session.n_slices))
        self._area_timer.start()

    def _on_labels(self, bbox) -> None:
        self._pending.update(range(int(bbox[0]), int(bbox[1])))
        if not self._area_timer.isActive():
            self._area_timer.start()

    def _flush_areas(self) -> None:
        if not self._pending:
            return
        z0, z1 = min(self._pending), max(self._pending) + 1
        self._pending.clear()
        self.model.update_areas(z0, z1)

    def _on_review(self, z: int) -> None:
        if z < 0:
            self.model.refresh_rows(0, self.session.n_slices)
        else:
            self.model.refresh_rows(z, z + 1)
        done, total = self.session.review_progress()
        self.progress_label.setText(f"{done} of {total} reviewed" if total else "no series open")
        if z < 0 or z == self.session.current_slice:
            self._show_note()

    def _on_slice(self, _z: int) -> None:
        self._on_note()  # a note being typed belongs to the slice it was typed on
        self._show_note(force=True)
        self.selection.request()  # select and scroll to the row: at once, or throttled while scrolling fast

    def _select_current(self) -> None:
        """Select the current slice's row and scroll it into view."""
        row = self.row_of(self.session.current_slice) if self.session.volume is not None else -1
        if row >= 0:
            self.table.selectRow(row)
            self.table.scrollTo(self.proxy.index(row, 0))

    def _show_note(self, force: bool = False) -> None:
        if force or not self.note.hasFocus():
            self._note_z = self.session.current_slice
            note = self.session.review_note(self._note_z)
            if note != self.note.text():  # the same text would still repaint the field
                self.note.setText(note)

    def _on_note(self) -> None:
        z = self._note_z
        text = self.note.text().strip()
        if self.session.volume is not None and 0 <= z < self.session.n_slices and text != self.session.review_note(z):
            self.noteEdited.emit(z, text)

    def _on_double_click(self, index: QModelIndex) -> None:
        self.sliceChangeRequested.emit(self.proxy.mapToSource(index).row())
