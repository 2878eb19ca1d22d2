"""The review side of the main window: review dock, File → Save / Export, keys A F N,
the title's unsaved marker, and the save / recover questions.

``install_review(window)`` builds it all around the window's session and
returns the :class:`ReviewUI`; the window calls :meth:`ReviewUI.open_series`
after opening a CT and :meth:`ReviewUI.confirm_close` before closing it or
opening another. Questions are skipped when Qt runs offscreen (headless
screenshots, tests): then a pending journal is recovered and closing keeps
the journal, so no work is lost without a user to ask, and a workspace open in
another LesionLoop is left alone.
"""
from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core_models.volume import CTVolume
from viewer.panels.review_panel import ReviewPanel
from viewer.review_controller import EXPORT_FORMATS, ReviewController, memory_key

FORMAT_NAMES = {"nifti": "NIfTI (labels.nii.gz)", "seg-nrrd": "3D Slicer segmentation (.seg.nrrd)",
                "png": "PNG slices, our values (0 bg, 1 GGO, 2 consolidation)",
                "png-seed": "PNG slices, seed values (0 bg, 1 lung, 2 GGO, 3 consolidation)"}
TITLE = "LesionLoop"


class ExportDialog(QDialog):
    """Choose the export formats and the output folder."""

    def __init__(self, folder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export labels")
        self.boxes = {fmt: QCheckBox(FORMAT_NAMES[fmt]) for fmt in EXPORT_FORMATS}
        for fmt, box in self.boxes.items():
            box.setChecked(fmt in ("nifti", "seg-nrrd"))
        self.folder = QLineEdit(folder)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for box in self.boxes.values():
            layout.addWidget(box)
        layout.addWidget(QLabel("Folder"))
        layout.addLayout(row)
        layout.addWidget(buttons)

    def formats(self) -> list[str]:
        """The ticked formats, in :data:`EXPORT_FORMATS` order."""
        return [fmt for fmt, box in self.boxes.items() if box.isChecked()]

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export into folder", self.folder.text())
        if folder:
            self.folder.setText(folder)


def ask_recover(parent: QWidget, count: int, when: str) -> bool:
    """"Recover N unsaved edits from <time>?" True: Recover, False: Discard."""
    box = QMessageBox(QMessageBox.Icon.Question, TITLE, f"Recover {count} unsaved edits from {when}?",
                      QMessageBox.StandardButton.NoButton, parent)
    box.setInformativeText("The last session ended without saving. Discard throws these edits away.")
    recover = box.addButton("Recover", QMessageBox.ButtonRole.AcceptRole)
    box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
    box.setDefaultButton(recover)
    box.exec()
    return box.clickedButton() is recover


def ask_busy(parent: QWidget, busy) -> bool:
    """"This workspace is open in LesionLoop by USER on HOST…" True: Open anyway, False: Cancel (the default).

    ``busy`` is the :class:`core_models.workspace.WorkspaceBusy` that opening raised.
    """
    text = (f"This workspace is open in LesionLoop by {busy.user} on {busy.host} (pid {busy.pid}) "
            f"since {_local_time(busy.since)}. Open it anyway?")
    box = QMessageBox(QMessageBox.Icon.Warning, TITLE, text, QMessageBox.StandardButton.NoButton, parent)
    box.setInformativeText("Edits made in both places will overwrite each other.")
    force = box.addButton("Open anyway", QMessageBox.ButtonRole.AcceptRole)
    cancel = box.addButton("Cancel", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(cancel)
    box.setEscapeButton(cancel)
    box.exec()
    return box.clickedButton() is force


def _local_time(iso_utc: str) -> str:
    """``2025-03-01T09:12:44Z`` as local ``2025-03-01 10:12``; the text as it is when it is no such time."""
    try:
        return datetime.fromisoformat(iso_utc.replace("Z", "+00:00")).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso_utc


def ask_save(parent: QWidget, name: str) -> str:
    """Save / Discard / Cancel for unsaved review work: ``"save"``, ``"discard"`` or ``"cancel"``."""
    buttons = QMessageBox.StandardButton
    answer = QMessageBox.question(parent, TITLE, f"Save the review of {name}?",
                                  buttons.Save | buttons.Discard | buttons.Cancel, buttons.Save)
    return {buttons.Save: "save", buttons.Discard: "discard"}.get(answer, "cancel")


class ReviewUI(QObject):
    """Glue between the main window, the review panel and the :class:`ReviewController`."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.session = window.session
        self.prompts = QGuiApplication.platformName() != "offscreen"
        self.controller = ReviewController(self.session, self)
        self.panel = ReviewPanel(self.session)
        self.dock = window._dock("Review", self.panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.progress_label = QLabel()
        self.progress_label.setMinimumWidth(130)
        window.statusBar().insertPermanentWidget(0, self.progress_label)
        self._build_actions()
        self._connect()

    def _action(self, text: str, slot, shortcut: str = "") -> QAction:
        action = QAction(text, self.window)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        return action

    def _build_actions(self) -> None:
        w = self.window
        self.save_action = self._action("Save workspace", self.save, "Ctrl+S")
        self.save_as_action = self._action("Save workspace as…", self.save_as_dialog, "Ctrl+Shift+S")
        self.export_action = self._action("Export labels…", self.export_dialog, "Ctrl+E")
        self.accept_action = self._action("Accept slice", lambda: self.toggle("accepted"), "A")
        self.flag_action = self._action("Flag slice", lambda: self.toggle("flagged"), "F")
        self.next_action = self._action("Next unreviewed", lambda: self.controller.go_next("unreviewed"), "N")
        self.next_flagged_action = self._action("Next flagged", lambda: self.controller.go_next("flagged"),
                                                "Shift+N")
        menu = w.file_menu
        before = menu.actions()[-2] if len(menu.actions()) >= 2 else None  # the separator above Quit
        menu.insertSeparator(before)
        menu.insertActions(before, [self.save_action, self.save_as_action, self.export_action])
        review_menu = w.menuBar().addMenu("&Review")
        review_menu.addActions([self.accept_action, self.flag_action, self.next_action, self.next_flagged_action])
        review_menu.addSeparator()
        review_menu.addAction(self.dock.toggleViewAction())

    def _connect(self) -> None:
        s, c, p = self.session, self.controller, self.panel
        c.statusMessage.connect(lambda m: self.window.statusBar().showMessage(m, 8000))
        c.errored.connect(lambda m: self.window.show_error(m))
        c.workspaceChanged.connect(self._on_workspace)
        p.sliceChangeRequested.connect(s.set_slice)
        p.statusRequested.connect(self.toggle)
        p.nextRequested.connect(c.go_next)
        p.noteEdited.connect(c.set_note)
        s.reviewChanged.connect(lambda _z: self._update_progress())
        s.volumeChanged.connect(self._update_progress)
        s.dirtyChanged.connect(lambda _d: self.update_title())

    # -- window hooks ------------------------------------------------------------------------
    def open_series(self, path: str | Path, volume: CTVolume) -> bool:
        """Load the workspace of the series just opened (asking about a pending journal, or
        whether to open it anyway when another LesionLoop has it open; offscreen: it is left alone)."""
        ask = (lambda n, when: ask_recover(self.window, n, when)) if self.prompts else None
        busy = (lambda exc: ask_busy(self.window, exc)) if self.prompts else None
        self.controller.remembered.update(self._remembered(path, _series(volume)))
        loaded = self.controller.open_series(path, volume, ask, busy)
        self.update_title()
        return loaded

    def confirm_close(self) -> bool:
        """Before closing the series: Save / Discard / Cancel when there is unsaved work; False = cancel."""
        workspace = self.controller.workspace
        if not self.session.dirty or workspace is None or not self.prompts:
            return True  # offscreen: the journal keeps every committed edit for recovery
        answer = ask_save(self.window, self._name())
        if answer == "save":
            return self.controller.save() is not None
        if answer == "discard":
            workspace.discard_recovery()
            return True
        return False

    def update_title(self) -> None:
        """``LesionLoop — name`` with ``*`` while there is unsaved review work (and a note while the
        series' workspace is open in another LesionLoop and left alone)."""
        if self.session.volume is None:
            self.window.setWindowTitle(TITLE)
            return
        busy = " — not saved: open in another LesionLoop" if self.controller.busy is not None else ""
        self.window.setWindowTitle(f"{TITLE} — {self._name()}{'*' if self.session.dirty else ''}{busy}")

    def _name(self) -> str:
        s = self.session
        return s.path.name if s.path is not None else (s.volume.source if s.volume is not None else "")

    # -- actions -----------------------------------------------------------------------------
    def toggle(self, status: str) -> bool:
        """Key A / F on the current slice."""
        if self.session.volume is None:
            return False
        return self.controller.toggle_status(self.session.current_slice, status)

    def save(self) -> Path | None:
        if self.session.volume is None:
            return None
        return self.controller.save()

    def save_as_dialog(self) -> Path | None:
        if self.session.volume is None:
            return None
        folder = QFileDialog.getExistingDirectory(self.window, "Save workspace into folder")
        if not folder:
            return None
        saved = self.controller.save_as(folder)
        if saved is not None and self.session.path is not None:
            self._remember(self.session.path, saved, _series(self.session.volume))
        return saved

    def export_dialog(self) -> list[Path]:
        if self.session.volume is None:
            return []
        dialog = ExportDialog(parent=self.window)
        if dialog.exec() != QDialog.DialogCode.Accepted.value or not dialog.folder.text().strip():
            return []
        if not dialog.formats():
            self.window.show_error("export: tick at least one format")
            return []
        return self.controller.export(dialog.folder.text().strip(), dialog.formats())

    # -- state -------------------------------------------------------------------------------
    def _on_workspace(self, workspace) -> None:
        if workspace is not None and self.window.display_panel.source.currentData() != "corrected":
            self.window.display_panel.source.setCurrentIndex(self.window.display_panel.source.findData("corrected"))
        self._update_progress()
        self.update_title()

    def _update_progress(self) -> None:
        done, total = self.session.review_progress()
        self.progress_label.setText(f"{done} of {total} reviewed" if total else "")

    def _key(self, ct_path: str | Path, series: str | None = None) -> tuple[str, str]:
        """(controller memory key, settings key) of a CT path and its DICOM series, if any."""
        key = memory_key(ct_path, series)
        return key, "workspaces/" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]

    def _remember(self, ct_path: str | Path, folder: Path, series: str | None = None) -> None:
        """Remember a workspace folder chosen by "save as" for the next opening of ``ct_path`` (``series``)."""
        _, key = self._key(ct_path, series)
        self.window.settings.setValue(key, str(folder))
        self.window.settings.sync()

    def _remembered(self, ct_path: str | Path, series: str | None = None) -> dict[str, str]:
        memory, key = self._key(ct_path, series)
        folder = self.window.settings.value(key, "")
        return {memory: str(folder)} if folder else {}


def _series(volume: CTVolume | None) -> str | None:
    """The DICOM series UID that keys a volume's workspace (None for other inputs)."""
    from core_models.workspace import volume_series

    return volume_series(volume) if volume is not None else None


def install_review(window) -> ReviewUI:
    """Add the review dock, actions and status label to ``window`` (a :class:`MainWindow`)."""
    return ReviewUI(window)
