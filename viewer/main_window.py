"""The main window: menus, toolbar, views, panels and status bar around one session."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QWidget,
)

from core_models.errors import LesionLoopError
from viewer.editing import install_editing
from viewer.inference_controller import InferenceController
from viewer.loading import VolumeLoader, load_volume
from viewer.overlays import OverlayStyle
from viewer.panels.class_panel import ClassPanel
from viewer.panels.display_panel import DisplayPanel
from viewer.panels.roi_panel import RoiPanel
from viewer.panels.updates import SteadyLabel
from viewer.review_ui import install_review
from viewer.session import ReviewSession
from viewer.settings import add_recent, open_settings, recent_files
from viewer.slice_view import SliceView, voxel_with_index
from viewer.training_ui import install_training
from viewer.windowing import Window

HU_RATE_MS = 40  # at most one HU read-out per 40 ms of mouse motion


class MainWindow(QMainWindow):
    """LesionLoop's review window."""

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("LesionLoop")
        self.resize(1280, 820)
        self.setAcceptDrops(True)
        self.session = ReviewSession(self)
        self.settings = open_settings()
        self.inference = InferenceController(self.session, self, settings=self.settings)
        self.loader = VolumeLoader(self)
        self._drag_start: Window | None = None
        self._cursor: tuple[int, int, int] | None = None
        self._build_views()
        self._build_panels()
        self._build_actions()
        self._build_status()
        self._connect()
        install_editing(self)  # tools dock, Edit menu (undo/redo), tool keys, RoI accept/reject
        self.review = install_review(self)  # review dock, File → Save / Export, keys A F N
        install_training(self)  # Training → Retrain from corrections…, Model → Versions… / Roll back
        self.set_layout("one")

    # -- construction ----------------------------------------------------------------------
    def _build_views(self) -> None:
        self.views = {name: SliceView(self.session, name) for name in ("axial", "coronal", "sagittal")}
        side = QSplitter(Qt.Orientation.Vertical)
        side.addWidget(self.views["coronal"])
        side.addWidget(self.views["sagittal"])
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.views["axial"])
        self.splitter.addWidget(side)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 1)
        self.side = side
        self.setCentralWidget(self.splitter)

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_panels(self) -> None:
        self.display_panel = DisplayPanel()
        self.roi_panel = RoiPanel(self.session)
        self.class_panel = ClassPanel(self.session)
        right = Qt.DockWidgetArea.RightDockWidgetArea
        self.display_dock = self._dock("Display", self.display_panel, right)
        self.roi_dock = self._dock("RoIs and score map", self.roi_panel, right)
        self.class_dock = self._dock("Classification", self.class_panel, right)
        self.tabifyDockWidget(self.roi_dock, self.class_dock)
        self.roi_dock.raise_()

    def _action(self, text: str, slot, shortcut: str | None = None) -> QAction:
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        return action

    def _build_actions(self) -> None:
        self.open_file_action = self._action("Open file…", self.open_file_dialog, "Ctrl+O")
        self.open_folder_action = self._action("Open folder…", self.open_folder_dialog, "Ctrl+Shift+O")
        self.run_action = self._action("Run", self.run_inference, "Ctrl+R")
        self.cancel_action = self._action("Cancel", self.inference.cancel, "Esc")
        self.cancel_action.setEnabled(False)
        self.layout_action = self._action("Three views", lambda on: self.set_layout("three" if on else "one"), "Ctrl+3")
        self.layout_action.setCheckable(True)
        file_menu = self.file_menu = self.menuBar().addMenu("&File")
        file_menu.addActions([self.open_file_action, self.open_folder_action])
        self.recent_menu = file_menu.addMenu("Recent")
        file_menu.addSeparator()
        file_menu.addAction(self._action("Quit", self.close, "Ctrl+Q"))
        view_menu = self.menuBar().addMenu("&View")
        view_menu.addAction(self.layout_action)
        for key, name in ((1, "Lung W1500/L-600"), (2, "Mediastinum W350/L40"), (3, "Bone W2000/L300"),
                          (4, "Full range")):
            view_menu.addAction(self._action(f"{name}\t{key}", lambda _=False, k=key: self.apply_preset(k)))
        model_menu = self.menuBar().addMenu("&Model")
        model_menu.addActions([self.run_action, self.cancel_action, self.inference.lungs_action])
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("main toolbar")
        toolbar.addActions([self.open_file_action, self.open_folder_action])
        toolbar.addSeparator()
        toolbar.addWidget(QLabel(" Model "))
        toolbar.addWidget(self.inference.combo)
        toolbar.addActions([self.run_action, self.cancel_action])
        toolbar.addSeparator()
        toolbar.addAction(self.layout_action)
        self._fill_recent()

    def _build_status(self) -> None:
        bar = self.statusBar()
        self.slice_label, self.mm_label, self.hu_label = (SteadyLabel() for _ in range(3))
        self.device_label = QLabel()
        for label, width in ((self.slice_label, 90), (self.mm_label, 190), (self.hu_label, 150)):
            label.setMinimumWidth(width)  # fixed sizes that only grow: no main-window relayout per slice
            bar.addPermanentWidget(label)
        bar.addPermanentWidget(self.inference.progress)
        bar.addPermanentWidget(self.device_label)
        self.device_label.setText("device: -")
        self._hu_timer = QTimer(self)
        self._hu_timer.setSingleShot(True)
        self._hu_timer.setInterval(HU_RATE_MS)
        self._hu_timer.timeout.connect(self._show_cursor_value)

    def _connect(self) -> None:
        s = self.session
        for view in self.views.values():
            view.sliceChangeRequested.connect(lambda i, v=view: s.set_position(voxel_with_index(v.plane, s.position, i)))
            view.positionRequested.connect(s.set_position)
            view.cursorMoved.connect(self._on_cursor)
            view.windowDragStarted.connect(self._on_drag_start)
            view.windowDragged.connect(self._on_drag)
            view.presetRequested.connect(self.apply_preset)
        s.positionChanged.connect(lambda _p: self._update_position_labels())
        s.volumeChanged.connect(self._update_position_labels)
        self.display_panel.styleChanged.connect(self.set_overlay_style)
        self.roi_panel.roiSelectionRequested.connect(s.select_roi)
        self.roi_panel.boxesChanged.connect(self.views["axial"].set_boxes)
        self.class_panel.sliceChangeRequested.connect(s.set_slice)
        self.inference.statusMessage.connect(lambda m: self.statusBar().showMessage(m, 8000))
        self.inference.deviceChanged.connect(lambda d: self.device_label.setText(f"device: {d}"))
        self.inference.errored.connect(self.show_error)
        self.loader.loaded.connect(self._on_loaded)
        self.loader.failed.connect(self._on_load_failed)
        self.loader.busyChanged.connect(self._on_loading)
        self.inference.runningChanged.connect(self._on_running)

    # -- opening ---------------------------------------------------------------------------
    def open_path(self, path: str | Path, ask_series: bool = True) -> bool:
        """Open a CT file or folder now (blocking); errors are shown in a dialog and the app keeps running.

        The menus, drag and drop and ``lesionloop view`` use :meth:`open_in_background`.
        """
        if not self.review.confirm_close():  # unsaved review work: Save / Discard / Cancel
            return False
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            volume = load_volume(path, self, ask=ask_series)
        except LesionLoopError as exc:
            QApplication.restoreOverrideCursor()
            self.show_error(str(exc))
            return False
        QApplication.restoreOverrideCursor()
        if volume is None:
            return False
        self._show_volume(volume, Path(path))
        return True

    def open_in_background(self, path: str | Path, ask_series: bool = True) -> bool:
        """Start reading a CT on a worker thread (the window stays usable); False if the user cancelled."""
        if not self.review.confirm_close():
            return False
        self.statusBar().showMessage(f"opening {Path(path).name}…")
        self.loader.load(path, ask=ask_series)
        return True

    def _on_loaded(self, volume, path: Path) -> None:
        self._show_volume(volume, path)

    def _on_load_failed(self, message: str) -> None:
        self.show_error(message)

    def _on_loading(self, busy: bool) -> None:
        """A busy cursor over the window while a file is read (it stays usable)."""
        if busy:
            self.setCursor(Qt.CursorShape.BusyCursor)
        else:
            self.unsetCursor()

    def _show_volume(self, volume, path: Path) -> None:
        self.inference.supersede()
        self.session.set_volume(volume, path)
        self.review.open_series(path, volume)  # its workspace: labels, statuses, recovery; the title
        self.views["axial"].setFocus()  # arrow, Page and 1-4 keys work at once
        add_recent(self.settings, path)
        self._fill_recent()
        kind = "HU" if volume.is_hu else "8-bit grey"
        self.statusBar().showMessage(f"opened {Path(path).name}: {volume.shape[0]} slices of "
                                     f"{volume.shape[1]}×{volume.shape[2]} ({kind})", 8000)

    def open_file_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open CT", "", "CT files (*.nii *.nii.gz *.nrrd *.mha *.mhd *.dcm *.png *.jpg *.jpeg);;All files (*)")
        if path:
            self.open_in_background(path)

    def open_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open DICOM or image folder")
        if path:
            self.open_in_background(path)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in recent_files(self.settings):
            self.recent_menu.addAction(self._action(path, lambda _=False, p=path: self.open_in_background(p)))
        self.recent_menu.setEnabled(not self.recent_menu.isEmpty())

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            event.acceptProposedAction()
            self.open_in_background(urls[0].toLocalFile())

    def show_error(self, message: str) -> None:
        """A one-line error in a dialog; the window stays open."""
        self.statusBar().showMessage(message, 10000)
        QMessageBox.critical(self, "LesionLoop", message)

    # -- display ---------------------------------------------------------------------------
    def set_layout(self, layout: str) -> None:
        """``one`` (axial only) or ``three`` (axial, coronal, sagittal with a crosshair)."""
        three = layout == "three"
        self.side.setVisible(three)
        for view in self.views.values():
            view.set_crosshair_visible(three)
        self.layout_action.blockSignals(True)
        self.layout_action.setChecked(three)
        self.layout_action.blockSignals(False)
        self.layout_name = "three" if three else "one"
        for view in self.views.values():
            QTimer.singleShot(0, view.fit)

    def set_overlay_style(self, style: OverlayStyle) -> None:
        for view in self.views.values():
            view.set_overlay_style(style)
        self.class_panel.summary.set_source(style.source)

    def apply_preset(self, key: int) -> None:
        if self.session.volume is not None and not self.session.apply_preset(key):
            self.statusBar().showMessage("HU presets do not apply to an 8-bit image: shown 0-255 as it is", 5000)

    def _on_drag_start(self) -> None:
        self._drag_start = self.session.window

    def _on_drag(self, dx: float, dy: float) -> None:
        if self._drag_start is not None:
            self.session.drag_window(self._drag_start, dx, dy)

    # -- status bar ------------------------------------------------------------------------
    def _update_position_labels(self) -> None:
        s = self.session
        if s.volume is None:
            return
        z, y, x = s.position
        self.slice_label.setText(f"slice {z + 1}/{s.n_slices}")
        pos = s.volume.geometry.index_to_physical(z, y, x)
        self.mm_label.setText(f"({pos[0]:.1f}, {pos[1]:.1f}, {pos[2]:.1f}) mm")

    def _on_cursor(self, voxel: tuple[int, int, int] | None) -> None:
        self._cursor = voxel
        if not self._hu_timer.isActive():
            self._hu_timer.start()

    def _show_cursor_value(self) -> None:
        s = self.session
        value = None if self._cursor is None else s.value_at(*self._cursor)
        if value is None:
            self.hu_label.setText("")
            return
        unit = "HU" if s.volume.is_hu else "grey"
        z, y, x = self._cursor
        self.hu_label.setText(f"[{x}, {y}, {z}] {value:.0f} {unit}")

    # -- inference -------------------------------------------------------------------------
    def run_inference(self) -> bool:
        return self.inference.run()

    def _on_running(self, running: bool) -> None:
        self.cancel_action.setEnabled(running)

    def current_workspace_dir(self) -> Path | None:
        """The open series' workspace folder (offered by Training → Retrain from corrections), or None."""
        workspace = getattr(getattr(getattr(self, "review", None), "controller", None), "workspace", None)
        folder = getattr(workspace, "folder", None)
        return Path(folder) if folder is not None else None

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        if not self.review.confirm_close():
            event.ignore()
            return
        self.inference.supersede()
        self.loader.runner.supersede()  # a file still being read is dropped
        self.inference.runner.wait(5000)
        self.loader.wait(5000)
        self.review.controller.close()  # closes the journal and gives the workspace lock back
        super().closeEvent(event)
