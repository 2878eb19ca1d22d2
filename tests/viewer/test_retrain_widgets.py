"""Retraining widgets: curves, before/after table, settings panel, versions dialog with the gate."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from core_models.errors import InputError
from core_models.model_store import active_version
from tests.viewer.retrain_helpers import register_tiny, write_workspace
from training.compare import table_rows
from training.registry import activate, register_model
from viewer.settings import open_settings
from viewer.training_ui.compare_table import BETTER, WORSE, CompareTable
from viewer.training_ui.curves import CurvesWidget
from viewer.training_ui.settings_panel import RetrainSettings
from viewer.training_ui.versions_dialog import VersionsDialog
from viewer.training_ui.workspaces import remembered_workspaces


@pytest.fixture
def messages(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Message boxes recorded instead of shown; questions answered from ``answers`` (default No)."""
    shown: dict[str, list] = {"critical": [], "question": [], "answers": []}
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text, *a, **k: shown["critical"].append(text))

    def question(parent, title, text, *a, **k):
        shown["question"].append(text)
        return shown["answers"].pop(0) if shown["answers"] else QMessageBox.StandardButton.No

    monkeypatch.setattr(QMessageBox, "question", question)
    return shown


def test_curves_collect_finite_points_and_clear(qtbot) -> None:
    curves = CurvesWidget()
    qtbot.addWidget(curves)
    curves.add_step(1, {"loss": 2.0, "loss_mask": 0.5, "lr": 1e-4})
    curves.add_step(2, {"loss": math.nan, "loss_mask": 0.4})
    curves.add_epoch(1, {"dice_binary": 0.3, "map": None, "train_loss": 1.0})
    assert curves.loss_data["loss"] == ([1.0], [2.0]) and curves.loss_data["loss_mask"] == ([1.0, 2.0], [0.5, 0.4])
    assert "lr" not in curves.loss_data and set(curves.metric_data) == {"dice_binary"}
    xs, ys = curves.loss_curves["loss_mask"].getData()
    assert list(xs) == [1.0, 2.0] and list(ys) == pytest.approx([0.5, 0.4])
    curves.clear()
    assert not curves.loss_data and not curves.loss_curves and not curves.metric_plot.listDataItems()


def test_compare_table_shows_figures_changes_and_colours(qtbot) -> None:
    table = CompareTable()
    qtbot.addWidget(table)
    rows = table_rows({"dice_ggo": 0.5, "dice_consolidation": 0.3, "dice_binary": 0.6, "map": 0.1},
                      {"dice_ggo": 0.45, "dice_consolidation": 0.4, "dice_binary": 0.6, "map": math.nan})
    table.show_table({"rows": rows, "before": {"version": "v0001-a"}, "after": {"version": "v0002-b"}})
    assert table.horizontalHeaderItem(0).text() == "before\nv0001-a"
    assert table.horizontalHeaderItem(1).text() == "after\nv0002-b"
    assert [table.item(0, c).text() for c in range(3)] == ["0.500", "0.450", "-0.050"]
    assert table.item(0, 2).foreground().color() == WORSE and table.item(1, 2).foreground().color() == BETTER
    assert table.item(2, 2).text() == "+0.000" and table.item(3, 1).text() == "–"
    table.show_table(table.table, after_name="v0003-c")
    assert table.horizontalHeaderItem(1).text() == "after\nv0003-c"
    table.show_table(None)
    assert table.item(0, 0).text() == "–"


def test_settings_panel_lists_counts_remembers_and_builds_the_plan(qtbot, tmp_path: Path, messages) -> None:
    settings = open_settings()
    panel = RetrainSettings(settings)
    qtbot.addWidget(panel)
    a = write_workspace(tmp_path / "a.lesionloop", {0: "accepted", 1: "corrected", 2: "flagged"})
    b = write_workspace(tmp_path / "b.lesionloop", {3: "corrected", 4: "corrected"}, seed=2)
    assert panel.add_workspace(a) and panel.add_workspace(b) and panel.add_workspace(a)
    assert panel.table.rowCount() == 2
    assert [panel.table.item(0, c).text() for c in (1, 2, 3)] == ["a.lesionloop", "1", "1"]
    assert "4 slices" in panel.totals.text() and "3 accepted" not in panel.totals.text()
    assert remembered_workspaces(settings) == [str(b.resolve()), str(a.resolve())]
    assert not panel.add_workspace(tmp_path) and "not a workspace folder" in messages["critical"][-1]
    panel.table.item(0, 0).setCheckState(Qt.CheckState.Unchecked)
    assert "2 slices" in panel.totals.text()
    panel.epochs.setValue(3)
    panel.extra.setText("--batch 4 --semantic-head")
    plan = panel.plan()
    assert plan.workspaces == [str(b.resolve())] and plan.epochs == 3
    assert plan.base == plan.compare_with == "bundled" and plan.lr == pytest.approx(3e-4)  # the active version
    assert plan.extra_args == ["--batch", "4", "--semantic-head"]
    assert plan.val_fraction == pytest.approx(0.2) and plan.val_paths == []
    panel.val_mode.setCurrentIndex(1)
    with pytest.raises(InputError, match="validation data folder"):
        panel.plan()
    panel.val_folder.setText(str(a))
    assert panel.plan().val_paths == [str(a)] and panel.plan().extra_data == []
    panel.extra_data.setText(f"{a}; ")
    assert panel.plan().extra_data == [str(a)]  # "Also train on": beside the corrections
    panel.extra_data.setText(str(tmp_path / "missing"))
    with pytest.raises(InputError, match="training data folder"):
        panel.plan()
    panel.extra_data.clear()
    panel.table.selectRow(0)
    panel.remove_selected()
    assert panel.table.rowCount() == 1 and remembered_workspaces(settings) == [str(b.resolve())]


def test_base_model_offers_the_active_version_and_its_learning_rate(qtbot, tiny_model_dir: Path) -> None:
    version = register_tiny(tiny_model_dir)
    panel = RetrainSettings(open_settings())
    qtbot.addWidget(panel)
    assert panel.base_combo.currentData() == version and version in panel.base_combo.currentText()
    assert panel.lr.value() == pytest.approx(3e-4) and panel.epochs.value() == 40
    panel.base_combo.setCurrentIndex(panel.base_combo.findData(""))
    assert panel.lr.value() == pytest.approx(1e-3)


def test_versions_dialog_gate_asks_before_activating_a_worse_version(qtbot, tiny_model_dir: Path, messages) -> None:
    parent = register_tiny(tiny_model_dir)
    worse = register_model(tiny_model_dir, parent=parent, metrics={
        "dice_binary": 0.30, "compared_with": {"version": parent, "dice_binary": 0.50}})
    dialog = VersionsDialog()
    qtbot.addWidget(dialog)
    changed: list[str] = []
    dialog.versionsChanged.connect(changed.append)
    assert [v.version for v in dialog.versions][1:] == [parent, worse]
    assert dialog.select(worse) and dialog.activate_button.isEnabled()
    assert not dialog.activate_selected() and active_version() == parent  # answered No
    assert "0.300" in messages["question"][-1] and parent in messages["question"][-1]
    messages["answers"].append(QMessageBox.StandardButton.Yes)
    assert dialog.activate_selected() and active_version() == worse and changed == [worse]
    row = next(i for i, v in enumerate(dialog.versions) if v.version == worse)
    assert dialog.table.item(row, 1).text() == "active" and dialog.table.item(row, 6).text() == "0.300"


def test_versions_dialog_rolls_back_to_an_earlier_version(qtbot, tiny_model_dir: Path, messages) -> None:
    first = register_tiny(tiny_model_dir)
    second = register_model(tiny_model_dir, parent=first)
    third = register_model(tiny_model_dir, parent=second)
    activate(second)
    activate(third)
    dialog = VersionsDialog()
    qtbot.addWidget(dialog)
    assert dialog.select(first) and dialog.rollback_selected()
    assert active_version() == first
    never = register_model(tiny_model_dir)
    dialog.refresh()
    assert dialog.select(never) and not dialog.rollback_selected()
    assert "never active" in messages["critical"][-1] and active_version() == first
