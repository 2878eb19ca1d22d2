"""Opening a CT: series picker for DICOM folders with several series."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QListWidget, QVBoxLayout, QWidget

from core_models.io import SeriesInfo, list_series, read_volume
from core_models.volume import CTVolume


class SeriesDialog(QDialog):
    """Lets the user pick one of several series (largest first)."""

    def __init__(self, found: list[SeriesInfo], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Choose a series")
        self.list = QListWidget()
        for info in found:
            date = f", {info.date[:8]}" if info.date else ""
            self.list.addItem(f"{info.description or 'series'} - {info.n_slices} slices "
                              f"({info.modality or '?'}{date})")
        self.list.setCurrentRow(0)
        self.list.itemDoubleClicked.connect(lambda _item: self.accept())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addWidget(buttons)


def choose_series_dialog(found: list[SeriesInfo], parent: QWidget | None = None) -> int | None:
    """Index of the series the user picked, ``None`` when cancelled."""
    dialog = SeriesDialog(found, parent)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return dialog.list.currentRow()


def load_volume(path: str | Path, parent: QWidget | None = None, ask: bool = True) -> CTVolume | None:
    """Read ``path``; a folder with several series asks which (``None`` when cancelled).

    Raises :class:`~core_models.errors.LesionLoopError` on unreadable input.
    """
    source = Path(path).expanduser()
    series: int | None = None
    if source.is_dir() and ask:
        found = list_series(source)
        if len(found) > 1:
            series = choose_series_dialog(found, parent)
            if series is None:
                return None
    return read_volume(source, series=series)
