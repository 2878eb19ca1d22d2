"""The settings side of "Retrain from corrections…": what will be used and how it trains."""
from __future__ import annotations

import shlex
import warnings
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core_models.errors import InputError, LesionLoopError
from training.data.workspace import WORKSPACE_FILE
from training.retrain import RetrainPlan, WorkspaceSummary, summarize_workspace
from viewer.training_ui.dialog_parts import read_only_item, record_table, use_item
from viewer.training_ui.workspaces import forget_workspace, remember_workspace

COLUMNS = ("use", "workspace", "accepted", "corrected", "GGO\nslices / px", "consolidation\nslices / px", "note")
SCRATCH = ""
#: defaults of a fine-tuning from the dialog: bench/loop_gain.py measured its best loop gain with
#: 40 epochs at lr 3e-4 (corrections + the initial slices); 20 epochs at 1e-4 gained about half as much
FINE_TUNE_EPOCHS, FINE_TUNE_LR, SCRATCH_LR = 40, 3e-4, 1e-3
VALIDATION_MODES = ("held-out", "folder")


def available_devices() -> list[str]:
    """``auto``, ``cpu`` and the accelerators torch sees here."""
    devices = ["auto", "cpu"]
    try:
        import torch

        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            devices.append("mps")
    except ImportError:
        pass
    return devices


class RetrainSettings(QWidget):
    """Workspaces with their counts, base model, epochs, learning rate, validation, device."""

    changed = Signal()

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.summaries: list[WorkspaceSummary] = []
        self._build_workspaces()
        self._build_form()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.data_box, 1)
        layout.addWidget(self.form_box)
        self.refresh_models()

    # -- construction ----------------------------------------------------------------------
    def _build_workspaces(self) -> None:
        self.table = record_table(COLUMNS)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.itemChanged.connect(lambda _item: self._update_totals())
        self.add_button = QPushButton("Add workspace folder…")
        self.remove_button = QPushButton("Remove")
        self.add_button.clicked.connect(self.add_workspace_dialog)
        self.remove_button.clicked.connect(self.remove_selected)
        self.totals = QLabel()
        self.totals.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        self.data_box = QGroupBox("What will be used: accepted and corrected slices")
        box = QVBoxLayout(self.data_box)
        box.addWidget(self.table, 1)
        box.addLayout(buttons)
        box.addWidget(self.totals)

    def _build_form(self) -> None:
        self.base_combo = QComboBox()
        self.base_combo.currentIndexChanged.connect(self._on_base)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 10_000)
        self.epochs.setValue(FINE_TUNE_EPOCHS)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(6)
        self.lr.setRange(1e-6, 1.0)
        self.lr.setSingleStep(1e-4)
        self.val_mode = QComboBox()
        self.val_mode.addItems(["a held-out part of the corrections", "a chosen folder"])
        self.val_share = QSpinBox()
        self.val_share.setRange(5, 50)
        self.val_share.setSuffix(" % held out")
        self.val_share.setValue(20)
        self.val_folder = QLineEdit()
        self.val_folder.setPlaceholderText("validation data folder (MedSeg, phantom, workspace…)")
        self.val_browse = QPushButton("Browse…")
        self.val_browse.clicked.connect(self._browse_validation)
        self.val_mode.currentIndexChanged.connect(self._on_val_mode)
        self.device = QComboBox()
        self.device.addItems(available_devices())
        self.extra = QLineEdit()
        self.extra.setPlaceholderText("further `lesionloop train` options, e.g. --batch 4 --semantic-head")
        val_row = QHBoxLayout()
        for w in (self.val_share, self.val_folder, self.val_browse):
            val_row.addWidget(w)
        self.form_box = QGroupBox("Training")
        form = QFormLayout(self.form_box)
        form.addRow("Base model", self.base_combo)
        form.addRow("Epochs", self.epochs)
        form.addRow("Learning rate", self.lr)
        form.addRow("Validation", self.val_mode)
        form.addRow("", val_row)
        form.addRow("Also train on", self._build_extra_data_row())
        form.addRow("Device", self.device)
        form.addRow("Options", self.extra)
        for signal in (self.val_share.valueChanged, self.val_folder.textChanged):
            signal.connect(lambda *_: self._update_totals())
        self._on_val_mode()

    def _build_extra_data_row(self) -> QHBoxLayout:
        """Folders trained on beside the corrections (e.g. the base model's own training set)."""
        self.extra_data = QLineEdit()
        self.extra_data.setPlaceholderText("optional: folders separated by ; (e.g. the base model's training data, "
                                           "so fine-tuning does not forget it)")
        browse = QPushButton("Add…")
        browse.clicked.connect(self._browse_extra_data)
        row = QHBoxLayout()
        row.addWidget(self.extra_data)
        row.addWidget(browse)
        return row

    def _browse_extra_data(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Further training data (MedSeg, seed, phantom, workspace…)")
        if path:
            self.extra_data.setText("; ".join([*self.extra_data_paths(), path]))

    def extra_data_paths(self) -> list[str]:
        """The "Also train on" folders."""
        return [p.strip() for p in self.extra_data.text().split(";") if p.strip()]

    # -- models ----------------------------------------------------------------------------
    def refresh_models(self) -> None:
        """Offer "fine-tune the active version" (when it can load) and "from scratch"."""
        from core_models.model_store import read_active_state, version_info

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            active = read_active_state().version
            try:
                usable = not version_info(active).broken
            except LesionLoopError:  # an unknown or unreadable version: only "from scratch" is offered
                usable = False
        self.active_version = active if usable else None
        self.base_combo.blockSignals(True)
        self.base_combo.clear()
        if self.active_version:
            self.base_combo.addItem(f"fine-tune the active version ({active})", active)
        self.base_combo.addItem("from scratch", SCRATCH)
        self.base_combo.blockSignals(False)
        self._on_base()

    def _on_base(self) -> None:
        self.lr.setValue(FINE_TUNE_LR if self.base_combo.currentData() else SCRATCH_LR)

    def _on_val_mode(self) -> None:
        folder = self.val_mode.currentIndex() == 1
        self.val_share.setVisible(not folder)
        self.val_folder.setVisible(folder)
        self.val_browse.setVisible(folder)
        self._update_totals()

    def _browse_validation(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Validation data folder")
        if path:
            self.val_folder.setText(path)

    # -- workspaces ------------------------------------------------------------------------
    def add_workspace(self, folder: str | Path, remember: bool = True) -> bool:
        """List a workspace with its counts; False (and a message) when it is not one."""
        folder = Path(folder).expanduser().resolve()
        if not (folder / WORKSPACE_FILE).is_file():
            QMessageBox.critical(self, "LesionLoop", f"{folder} is not a workspace folder (no {WORKSPACE_FILE})")
            return False
        if any(s.folder == folder for s in self.summaries):
            return True
        summary = summarize_workspace(folder)
        self.summaries.append(summary)
        self._add_row(summary)
        if remember:
            remember_workspace(self.settings, folder)
        self._update_totals()
        self.changed.emit()
        return True

    def _add_row(self, s: WorkspaceSummary) -> None:
        row = self.table.rowCount()
        self.table.blockSignals(True)
        self.table.insertRow(row)
        self.table.setItem(row, 0, use_item(s.problem is None and s.training_slices > 0))
        note = s.problem or ("no accepted or corrected slices yet" if not s.training_slices else "")
        cells = [s.folder.name, str(s.statuses.get("accepted", 0)), str(s.statuses.get("corrected", 0)),
                 f"{s.slices_with['ggo']} / {s.pixels['ggo']}",
                 f"{s.slices_with['consolidation']} / {s.pixels['consolidation']}", note]
        for col, text in enumerate(cells, start=1):
            item = read_only_item(text, str(s.folder) if col == 1 else note)
            if col == 6 and note:
                item.setForeground(QColor(200, 30, 30))
            self.table.setItem(row, col, item)
        self.table.blockSignals(False)

    def clear_workspaces(self) -> None:
        """Empty the list (before it is filled again with fresh counts)."""
        self.summaries.clear()
        self.table.setRowCount(0)
        self._update_totals()

    def add_workspace_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Workspace folder (holding review.json)")
        if path:
            self.add_workspace(path)

    def remove_selected(self) -> None:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()}, reverse=True)
        for row in rows:
            forget_workspace(self.settings, self.summaries[row].folder)
            del self.summaries[row]
            self.table.removeRow(row)
        self._update_totals()
        self.changed.emit()

    def chosen(self) -> list[WorkspaceSummary]:
        """The ticked workspaces."""
        return [s for row, s in enumerate(self.summaries)
                if self.table.item(row, 0).checkState() == Qt.CheckState.Checked]

    def _update_totals(self) -> None:
        chosen = self.chosen()
        n = sum(s.training_slices for s in chosen)
        acc = sum(s.statuses.get("accepted", 0) for s in chosen)
        ggo = sum(s.slices_with["ggo"] for s in chosen)
        cons = sum(s.slices_with["consolidation"] for s in chosen)
        if self.val_mode.currentIndex() == 0:
            held = min(max(1, round(self.val_share.value() / 100 * n)), max(n - 1, 0)) if n >= 2 else 0
            val = f"{held} of them held out for validation"
        else:
            val = f"validation on {self.val_folder.text() or '(choose a folder)'}"
        self.totals.setText(f"<b>{n} slices</b> from {len(chosen)} workspace(s): {acc} accepted, {n - acc} corrected; "
                            f"GGO in {ggo}, consolidation in {cons} of them; {val}.")

    # -- the plan --------------------------------------------------------------------------
    def plan(self, out: str = "") -> RetrainPlan:
        """A :class:`~training.retrain.RetrainPlan` from the widgets; :class:`InputError` on bad settings."""
        chosen = self.chosen()
        if not chosen and self.summaries and not any(s.training_slices for s in self.summaries):
            raise InputError("no corrections yet: the listed workspaces have no accepted or corrected slices "
                             "(review some slices and save the workspace first)")
        if not chosen:
            raise InputError("no workspace chosen: add a workspace folder with saved corrections")
        try:
            extra = shlex.split(self.extra.text())
        except ValueError as exc:
            raise InputError(f"the further options cannot be read: {exc}") from None
        folder_mode = self.val_mode.currentIndex() == 1
        if folder_mode and not self.val_folder.text().strip():
            raise InputError("choose a validation data folder, or hold out a part of the corrections")
        base = self.base_combo.currentData() or None
        plan = RetrainPlan(workspaces=[str(s.folder) for s in chosen], out=out, base=base,
                           compare_with=self.active_version, epochs=self.epochs.value(), lr=float(self.lr.value()),
                           val_fraction=self.val_share.value() / 100.0,
                           val_paths=[self.val_folder.text().strip()] if folder_mode else [],
                           device=self.device.currentText(), extra_args=extra, extra_data=self.extra_data_paths())
        plan.check()
        return plan
