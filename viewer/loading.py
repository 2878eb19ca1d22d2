"""Opening a CT: series picker for DICOM folders with several series, reading off the GUI thread."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QListWidget, QVBoxLayout, QWidget

from core_models.io import SeriesInfo, list_series, read_volume
from core_models.prediction import Progress
from core_models.volume import CTVolume
from viewer.workers import JobRunner


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


def _list_job(source: Path):
    """Worker job: the series of a folder (the user may be asked to choose one)."""
    def job(_cancel):
        yield Progress(0, 1, f"reading {source.name}")
        return list_series(source)
    return job


def _read_job(source: Path, series: int | None):
    def job(_cancel):
        yield Progress(0, 1, f"reading {source.name}")
        return read_volume(source, series=series)
    return job


class VolumeLoader(QObject):
    """Reads a CT off the GUI thread; a folder with several series asks which first.

    ``loaded(volume, path)`` or ``failed(message)`` ends each request; a new
    request supersedes a pending one (its result is dropped). The window stays
    usable while files are read (a 300-slice DICOM series takes seconds).
    """

    loaded = Signal(object, object)  # CTVolume, Path
    failed = Signal(str)
    busyChanged = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = JobRunner(self, max_threads=1)
        self.runner.errored.connect(self._on_error)
        self.runner.finished.connect(self._on_finished)
        self._source: Path | None = None  # the file being read, None when idle
        self._stage = ""

    @property
    def busy(self) -> bool:
        return self._source is not None

    def load(self, path: str | Path, ask: bool = True) -> None:
        """Start reading ``path`` (``ask``: offer a series choice for multi-series folders)."""
        source = Path(path).expanduser()
        self._source = source
        self.busyChanged.emit(True)
        if source.is_dir() and ask:
            self._stage = "list"
            self.runner.start(_list_job(source))
        else:  # a file, or no choice offered: read at once
            self._stage = "read"
            self.runner.start(_read_job(source, None))

    def _on_finished(self, result) -> None:
        source = self._source
        if source is None:
            return
        if self._stage == "list":
            series = None
            if len(result) > 1:
                parent = self.parent() if isinstance(self.parent(), QWidget) else None
                series = choose_series_dialog(result, parent)
                if series is None:
                    self._end()
                    return
            self._stage = "read"
            self.runner.start(_read_job(source, series))
            return
        self._end()
        self.loaded.emit(result, source)

    def _on_error(self, message: str) -> None:
        self._end()
        self.failed.emit(message)

    def _end(self) -> None:
        self._source, self._stage = None, ""
        self.busyChanged.emit(False)

    def wait(self, msecs: int = 30000) -> bool:
        """Block until the reading thread is idle (tests and shutdown)."""
        return self.runner.wait(msecs)
