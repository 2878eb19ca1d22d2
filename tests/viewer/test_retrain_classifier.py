"""Training → "Train classifier S…": class counts, the train-classifier process, the new version."""
from __future__ import annotations

import json
from pathlib import Path

from core_models.checkpoints import read_spec
from core_models.model_store import list_versions, version_dir
from tests.training.helpers import write_medseg, write_phantom
from tests.viewer.retrain_helpers import register_tiny
from viewer.training_ui.workspaces import CLASSIFIER_KEY, remembered_folders


def test_train_classifier_from_the_menu_registers_a_version_with_s(window, qtbot, tiny_model_dir: Path,
                                                                   tmp_path: Path) -> None:
    parent = register_tiny(tiny_model_dir)
    data = write_phantom(tmp_path / "mixed", cases=3, slices=2, seed=1, kind="mixed")
    no_classes = write_medseg(tmp_path / "medseg", [0, 1])
    window.training_ui.classifier_action.trigger()
    dialog = window.training_ui.classifier_dialog
    assert dialog.model_combo.currentData() == parent  # the active version first
    assert dialog.add_folder(data) and dialog.add_folder(no_classes)
    expected = {0: 0, 1: 0, 2: 0}
    for case in json.loads((data / "cases.json").read_text())["cases"]:
        expected[case["class_id"]] += case["shape"][0]
    assert [int(dialog.table.item(0, c).text()) for c in (2, 3, 4)] == [expected[0], expected[1], expected[2]]
    assert "no image class" in dialog.table.item(1, 5).text()
    assert remembered_folders(window.settings, CLASSIFIER_KEY) == [str(no_classes.resolve()), str(data.resolve())]
    plan = dialog.plan()
    assert plan.data == [str(data.resolve())] and plan.s_only and plan.init == parent
    dialog.epochs.setValue(1)
    dialog.device.setCurrentText("cpu")
    dialog.extra.setText("--roi-batch 16 --all-slices")
    with qtbot.waitSignal(dialog.runner.finished, timeout=150_000) as done:
        assert dialog.start()
        assert not dialog.start_button.isEnabled() and dialog.cancel_button.isEnabled()
    outcome = done.args[0]
    assert outcome.ok, outcome.message
    new = dialog.new_version
    assert new and new in [v.version for v in list_versions()] and new in dialog.result.text()
    spec = read_spec(version_dir(new))
    assert spec.classifier is not None and spec.metadata.parent == parent
    assert dialog.run_panel.curves.loss_data["loss_image_class"][0]
    assert window.inference.combo.findData(str(version_dir(new))) >= 0
    assert dialog.activate_new() and window.inference.combo.currentData() == str(version_dir(new))


def test_classifier_dialog_refuses_missing_data_with_a_message(window, qtbot, tmp_path: Path) -> None:
    window.training_ui.classifier_action.trigger()
    dialog = window.training_ui.classifier_dialog
    assert not dialog.start() and "no classification data" in window.errors_shown[-1]
    assert not dialog.runner.running
