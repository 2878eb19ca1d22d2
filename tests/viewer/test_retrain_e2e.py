"""End to end from the menu: saved corrections → retrain → new version → activate → re-run → roll back;
and failures (a crashing training process, a broken base model, no corrections) leave the viewer alive."""
from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from core_models.model_store import active_version, list_versions, version_dir
from tests.training.helpers import write_phantom
from tests.viewer.retrain_helpers import TINY_OPTIONS, folder_bytes, register_tiny, write_workspace

STATUSES = {0: "corrected", 1: "corrected", 2: "accepted", 3: "corrected", 4: "flagged"}
TRAIN_TIMEOUT_MS = 150_000
#: put on the child's PYTHONPATH: once the run has logged its first step (curves.jsonl exists), the
#: process SIGKILLs itself, as the system's out-of-memory killer would
CRASH_HOOK = """
import os, signal, sys, threading, time
from pathlib import Path

def _kill_after_first_step():
    for _ in range(1200):
        time.sleep(0.05)
        if "--out" in sys.argv and (Path(sys.argv[sys.argv.index("--out") + 1]) / "curves.jsonl").exists():
            time.sleep(0.5)  # its step event is on its way to the viewer
            os.kill(os.getpid(), signal.SIGKILL)

threading.Thread(target=_kill_after_first_step, daemon=True).start()
"""


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Confirmation questions are answered Yes and recorded."""
    asked: list[str] = []

    def question(parent, title, text, *a, **k):
        asked.append(text)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", question)
    return asked


def _open_dialog(window, monkeypatch, workspace: Path):
    monkeypatch.setattr(window, "current_workspace_dir", lambda: workspace)
    window.training_ui.retrain_action.trigger()
    dialog = window.training_ui.retrain_dialog
    panel = dialog.settings_panel
    panel.epochs.setValue(1)
    panel.device.setCurrentText("cpu")
    panel.extra.setText(TINY_OPTIONS)
    panel.val_share.setValue(25)
    return dialog


def _correct(window, ct: Path, truth: Path) -> None:
    """The annotator: open the CT, paint the true labels into slices 0-3, accept slice 2, flag slice 4."""
    from core_models.editing import LabelEdit
    from core_models.io import read_labels

    assert window.open_path(ct)
    labels = read_labels(truth).array
    session = window.session
    for z in (0, 1, 2, 3):
        corrected = session.editable_labels().array
        edit = LabelEdit.from_arrays(corrected[z:z + 1].copy(), labels[z:z + 1], (z, 0, 0))
        assert session.apply_edit(edit)
    assert window.review.controller.set_status(2, "accepted")
    assert window.review.controller.set_status(4, "flagged")


def test_retrain_from_the_menu_then_activate_rerun_and_roll_back(window, qtbot, tiny_model_dir: Path,
                                                                 tmp_path: Path, answers) -> None:
    parent = register_tiny(tiny_model_dir)
    window.training_ui.refresh_picker()
    data = write_phantom(tmp_path / "ct", cases=1, slices=6, seed=1)
    _correct(window, data / "case_000.nii.gz", data / "case_000_labels.nii.gz")
    window.training_ui.retrain_action.trigger()
    dialog = window.training_ui.retrain_dialog
    assert dialog.notice.isVisibleTo(dialog) and "unsaved corrections" in dialog.notice.text()
    workspace = window.review.save()  # File → Save workspace
    assert window.current_workspace_dir() == workspace  # the hook offers the open series' workspace
    saved = folder_bytes(workspace)
    window.training_ui.retrain_action.trigger()
    assert not dialog.notice.isVisibleTo(dialog)
    panel = dialog.settings_panel
    panel.epochs.setValue(1)
    panel.device.setCurrentText("cpu")
    panel.extra.setText(TINY_OPTIONS)
    panel.val_share.setValue(25)
    assert [s.folder for s in panel.summaries] == [workspace.resolve()]
    assert panel.summaries[0].statuses == {"corrected": 3, "accepted": 1, "flagged": 1}
    assert panel.base_combo.currentData() == parent and "4 slices" in panel.totals.text()
    with qtbot.waitSignal(dialog.runner.finished, timeout=TRAIN_TIMEOUT_MS) as done:
        assert dialog.start()
        assert dialog.runner.running and not panel.isEnabled() and dialog.cancel_button.isEnabled()
        window.session.set_slice(3)  # the viewer stays usable while the process trains
        assert window.session.current_slice == 3
    outcome = done.args[0]
    assert outcome.ok, outcome.message
    new = outcome.version
    info = next(v for v in list_versions() if v.version == new)
    assert info.parent == parent and info.data_hash.startswith("sha256:")
    assert info.metrics["compared_with"]["version"] == parent and info.summary["dice_binary"] is not None
    assert folder_bytes(workspace) == saved  # the saved corrections are untouched
    assert dialog.table.horizontalHeaderItem(0).text() == f"before\n{parent}"
    assert dialog.table.horizontalHeaderItem(1).text() == f"after\n{new}"
    assert dialog.table.item(2, 0).text() != "–" and new in dialog.verdict.text()
    assert dialog.curves.loss_data["loss"][0] and len(dialog.curves.metric_data["dice_binary"][0]) == 1
    assert "before/after on 1 validation slices" in dialog.log.toPlainText()
    assert window.inference.combo.findData(str(version_dir(new))) >= 0  # the picker lists it at once

    assert dialog.activate_new() and active_version() == new
    assert bool(answers) == bool(outcome.table["worse"])  # the gate asks only when it scored lower
    with qtbot.waitSignal(window.inference.runner.stopped, timeout=60_000):
        dialog.rerun_button.click()  # "re-run on this series" in one click
    assert window.session.model_version == new and window.session.prediction is not None

    assert window.training_ui.rollback_previous() == parent
    assert active_version() == parent
    assert window.inference.combo.currentData() == str(version_dir(parent))


def test_a_crashing_training_process_leaves_the_viewer_alive_with_a_message(window, qtbot, tiny_model_dir: Path,
                                                                             tmp_path: Path, monkeypatch) -> None:
    hook = tmp_path / "crash_hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(CRASH_HOOK)
    monkeypatch.setenv("PYTHONPATH", str(hook))
    register_tiny(tiny_model_dir)
    workspace = write_workspace(tmp_path / "case.lesionloop", STATUSES)
    saved = folder_bytes(workspace)
    versions_before = [v.version for v in list_versions()]
    dialog = _open_dialog(window, monkeypatch, workspace)
    with qtbot.waitSignal(dialog.runner.finished, timeout=60_000) as done:
        assert dialog.start()
    outcome = done.args[0]
    assert outcome.exit_code is None and "crashed" in outcome.message
    assert dialog.curves.loss_data["loss"][0]  # it died while training
    assert window.errors_shown and "crashed" in window.errors_shown[-1]
    assert "failed" in dialog.verdict.text() and dialog.start_button.isEnabled()
    assert [v.version for v in list_versions()] == versions_before and folder_bytes(workspace) == saved
    window.training_ui.open_versions()  # the viewer still works
    assert window.isVisible()


def test_a_broken_base_model_and_no_corrections_are_shown_as_messages(window, qtbot, tiny_model_dir: Path,
                                                                       tmp_path: Path, monkeypatch) -> None:
    empty = write_workspace(tmp_path / "new.lesionloop", {1: "flagged"})
    dialog = _open_dialog(window, monkeypatch, empty)
    assert not dialog.start() and not dialog.runner.running
    assert "no corrections yet" in window.errors_shown[-1]

    version = register_tiny(tiny_model_dir)
    (version_dir(version) / "weights.safetensors").write_bytes(b"not a weights file")
    workspace = write_workspace(tmp_path / "case.lesionloop", STATUSES)
    dialog = _open_dialog(window, monkeypatch, workspace)
    assert dialog.settings_panel.base_combo.currentData() == version
    with qtbot.waitSignal(dialog.runner.finished, timeout=60_000) as done:
        assert dialog.start()
    outcome = done.args[0]
    assert outcome.exit_code == 2 and outcome.message == window.errors_shown[-1]
    assert "weights" in outcome.message and "\n" not in outcome.message
    assert active_version() == version and window.isVisible()
