"""Retraining from the viewer: the Training menu, model versions, the training process.

:func:`install_training` adds to a main window

- Training → "Retrain from corrections…" (:class:`RetrainDialog`): the
  accepted and corrected slices of the open series' workspace and of
  remembered workspace folders train a new version in a separate process;
- Training → "Train classifier S…" (:class:`ClassifierDialog`): classification
  module S on a segmentation model, the same way;
- Model → "Versions…" (:class:`VersionsDialog`: activate with the
  worse-than-parent gate, roll back to any earlier version, re-run) and
  "Roll back to the previous version".

The window may offer its open series' workspace through a
``current_workspace_dir()`` method (``None`` when there is none).
"""
from __future__ import annotations

import warnings
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QMainWindow, QMenu

from training.cli import COMMANDS
from training.data.workspace import WORKSPACE_FILE
from viewer.training_ui.classifier_dialog import ClassifierDialog
from viewer.training_ui.retrain_dialog import RetrainDialog
from viewer.training_ui.versions_dialog import VersionsDialog, rollback_to
from viewer.training_ui.workspaces import remembered_workspaces

__all__ = ["ClassifierDialog", "RetrainDialog", "TrainingUi", "VersionsDialog", "install_training"]

#: seconds a closing viewer waits for a cancelled training process before killing it
QUIT_GRACE_S = 10.0


def _find_menu(window: QMainWindow, title: str) -> QMenu | None:
    for action in window.menuBar().actions():
        if action.menu() is not None and action.text().replace("&", "") == title:
            return action.menu()
    return None


class TrainingUi(QObject):
    """The menu entries and dialogs of retraining, owned by one main window."""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.retrain_dialog: RetrainDialog | None = None
        self.versions_dialog: VersionsDialog | None = None
        menu = window.menuBar().addMenu("&Training")
        self.retrain_action = self._add(menu, "Retrain from corrections…", self.open_retrain)
        self.classifier_dialog: ClassifierDialog | None = None
        self.classifier_action = (self._add(menu, "Train classifier S…", self.open_classifier)
                                  if "train-classifier" in COMMANDS else None)
        model_menu = _find_menu(window, "Model") or window.menuBar().addMenu("&Model")
        model_menu.addSeparator()
        self.versions_action = self._add(model_menu, "Versions…", self.open_versions)
        self.rollback_action = self._add(model_menu, "Roll back to the previous version", self.rollback_previous)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    def _add(self, menu: QMenu, text: str, slot) -> QAction:
        action = QAction(text, self.window)
        action.triggered.connect(lambda _=False: slot())
        menu.addAction(action)
        return action

    # -- retraining ------------------------------------------------------------------------
    def offered_workspaces(self) -> list[Path]:
        """The open series' workspace (first) and the remembered workspace folders."""
        hook = getattr(self.window, "current_workspace_dir", None)
        current = hook() if callable(hook) else None
        folders = [Path(current)] if current else []
        folders += [Path(f) for f in remembered_workspaces(self.window.settings)]
        seen: list[Path] = []
        for folder in folders:
            folder = folder.expanduser().resolve()
            if folder not in seen and (folder / WORKSPACE_FILE).is_file():
                seen.append(folder)
        return seen

    def open_retrain(self) -> RetrainDialog:
        """Show the retraining dialog (re-reading the workspaces unless a run is going on)."""
        if self.retrain_dialog is None:
            dialog = RetrainDialog(self.window.settings, self.window)
            dialog.versionRegistered.connect(lambda _v: self.refresh_picker())
            dialog.activated.connect(self.refresh_picker)
            dialog.rerunRequested.connect(self.rerun)
            self.retrain_dialog = dialog
        dialog = self.retrain_dialog
        if not dialog.runner.running:
            panel = dialog.settings_panel
            panel.clear_workspaces()
            for folder in self.offered_workspaces():
                panel.add_workspace(folder, remember=False)
            panel.refresh_models()
            unsaved = bool(getattr(self.window.session, "dirty", False))
            dialog.set_notice("The open series has unsaved corrections: only what is saved trains. Save them "
                              "(File → Save workspace) and open this dialog again." if unsaved else "")
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        return dialog

    def open_classifier(self) -> ClassifierDialog:
        """Show the "Train classifier S" dialog."""
        if self.classifier_dialog is None:
            dialog = ClassifierDialog(self.window.settings, self.window)
            dialog.versionRegistered.connect(lambda _v: self.refresh_picker())
            dialog.activated.connect(self.refresh_picker)
            dialog.rerunRequested.connect(self.rerun)
            self.classifier_dialog = dialog
        elif not self.classifier_dialog.runner.running:
            self.classifier_dialog.refresh_models()
        self.classifier_dialog.show()
        self.classifier_dialog.raise_()
        return self.classifier_dialog

    # -- versions --------------------------------------------------------------------------
    def open_versions(self) -> VersionsDialog:
        """Show the versions dialog."""
        if self.versions_dialog is None:
            self.versions_dialog = VersionsDialog(self.window)
            self.versions_dialog.versionsChanged.connect(self.refresh_picker)
            self.versions_dialog.rerunRequested.connect(self.rerun)
        self.versions_dialog.refresh()
        self.versions_dialog.show()
        self.versions_dialog.raise_()
        return self.versions_dialog

    def rollback_previous(self) -> str | None:
        """Return to the previously active version; the version now active (``None`` on failure)."""
        now = rollback_to(self.window, None)
        if now is not None:
            self.refresh_picker(now)
            self.window.statusBar().showMessage(f"rolled back: {now} is the active model", 8000)
            if self.versions_dialog is not None:
                self.versions_dialog.refresh()
        return now

    def refresh_picker(self, select: str | None = None) -> None:
        """Re-list the models in the toolbar; select ``select`` (default: the active version)."""
        from core_models.model_store import active_version, version_dir

        inference = self.window.inference
        inference.refresh_models()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            name = select or active_version()
        index = inference.combo.findData(str(version_dir(name)))
        if index >= 0:
            inference.combo.setCurrentIndex(index)

    def rerun(self, version: str) -> bool:
        """Pick ``version`` in the toolbar and run it on the open series."""
        from core_models.model_store import version_dir

        self.refresh_picker(version)
        inference = self.window.inference
        folder = version_dir(version)
        if inference.combo.currentData() != str(folder):
            inference.add_model(folder, version)
        return self.window.run_inference()

    def shutdown(self) -> None:
        """The viewer is quitting: stop running trainings (gracefully, then kill)."""
        for dialog in (self.retrain_dialog, self.classifier_dialog):
            if dialog is None or not dialog.runner.running:
                continue
            dialog.runner.cancel(grace_s=QUIT_GRACE_S)
            process = dialog.runner.process
            if process is not None and not process.waitForFinished(int(QUIT_GRACE_S * 1000)):
                dialog.runner.kill()


def install_training(window: QMainWindow) -> TrainingUi:
    """Add the Training menu and the model-version actions to ``window`` (kept as ``window.training_ui``)."""
    window.training_ui = TrainingUi(window)
    return window.training_ui
