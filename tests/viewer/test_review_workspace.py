"""Workspace from the viewer: save and reopen, recovery after a kill, unsaved marker and
close prompt, export, and a re-run of inference that leaves reviewed slices alone."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QDialog, QFileDialog, QMessageBox

from core_models.editing import LabelEdit
from core_models.io import read_labels, read_volume
from core_models.io.label_png import read_label_png
from core_models.workspace import JOURNAL_FILE, Workspace, default_workspace_dir
from tests.viewer.test_inference_ui import _fake_result
from viewer.main_window import MainWindow
from viewer.review_ui import ExportDialog


def _box_edit(labels: np.ndarray, z: int, y0: int, x0: int, value: int, size: int = 4) -> LabelEdit:
    mask = np.zeros(labels.shape[1:], bool)
    mask[y0:y0 + size, x0:x0 + size] = True
    return LabelEdit.from_mask(labels, z, mask, value)


def _new_window(qtbot) -> MainWindow:
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    return win


def _answer_box(monkeypatch, text: str, asked: list[str]) -> None:
    """Make QMessageBox instances answer by clicking the button labelled ``text``."""
    def fake_exec(box):
        asked.append(box.text())
        next(b for b in box.buttons() if b.text() == text).click()
        return 0
    monkeypatch.setattr(QMessageBox, "exec", fake_exec)


def test_save_close_reopen_brings_labels_and_statuses_back(window, nifti_path, qtbot):
    s = window.session
    window.open_path(nifti_path)
    s.begin_prediction("fake-v1")
    for z in range(6):
        s.add_slice_result(_fake_result(z, s.volume.shape[1:]))
    s.apply_edit(_box_edit(s.corrected.array, 2, 30, 30, 2))
    window.review.controller.set_status(4, "flagged", "check with radiologist")
    window.review.controller.set_status(0, "accepted")
    expected = s.corrected.array.copy()
    predicted = s.predicted.array.copy()
    assert window.windowTitle() == f"LesionLoop — {nifti_path.name}*"
    window.review.save_action.trigger()  # Ctrl+S
    assert not s.dirty and window.windowTitle() == f"LesionLoop — {nifti_path.name}"
    window.close()

    other = _new_window(qtbot)
    assert other.open_path(nifti_path)
    t = other.session
    assert np.array_equal(t.corrected.array, expected)
    assert t.predicted is not None and np.array_equal(t.predicted.array, predicted)
    assert t.model_version == "fake-v1"
    assert [t.review_status(z) for z in range(6)] == ["accepted", "unreviewed", "corrected", "unreviewed",
                                                      "flagged", "unreviewed"]
    assert t.review_note(4) == "check with radiologist"
    assert other.review.progress_label.text() == "3 of 6 reviewed" and not t.dirty
    assert other.display_panel.source.currentData() == "corrected"
    # edits after reopening are undoable, and journalled
    before = t.corrected.array.copy()
    assert t.apply_edit(_box_edit(t.corrected.array, 3, 10, 10, 2))
    assert t.review_status(3) == "corrected" and t.dirty
    t.undo_stack.undo()
    assert np.array_equal(t.corrected.array, before)
    assert other.review.controller.workspace.edit_counts[3] == 2  # the edit and its undo


def test_recovery_dialog_recovers_a_killed_session(window, nifti_path, monkeypatch):
    volume = read_volume(nifti_path)
    ws = Workspace.create(default_workspace_dir(nifti_path), nifti_path, volume)
    ws.apply_edit(_box_edit(ws.corrected.array, 1, 5, 5, 1))
    ws.apply_edit(_box_edit(ws.corrected.array, 1, 7, 7, 2))
    ws.set_status(1, "corrected")
    ws.set_status(5, "flagged", "odd")
    expected = ws.corrected.array.copy()
    ws.close()  # "killed": no save
    asked: list[str] = []
    _answer_box(monkeypatch, "Recover", asked)
    window.review.prompts = True
    assert window.open_path(nifti_path)
    assert len(asked) == 1 and asked[0].startswith("Recover 4 unsaved edits from ")
    s = window.session
    assert np.array_equal(s.corrected.array, expected) and s.corrected.array.any()
    assert s.review_status(1) == "corrected" and s.review_note(5) == "odd"
    assert s.dirty and window.windowTitle().endswith("*")
    window.review.prompts = False


def test_recovery_dialog_discard_drops_the_journal(window, nifti_path, monkeypatch, qtbot):
    volume = read_volume(nifti_path)
    ws = Workspace.create(default_workspace_dir(nifti_path), nifti_path, volume)
    ws.apply_edit(_box_edit(ws.corrected.array, 1, 5, 5, 1))
    ws.close()
    asked: list[str] = []
    _answer_box(monkeypatch, "Discard", asked)
    window.review.prompts = True
    assert window.open_path(nifti_path)
    assert asked and not window.session.corrected.array.any() and not window.session.dirty
    window.review.prompts = False
    other = _new_window(qtbot)
    other.review.prompts = True
    asked.clear()
    other.open_path(nifti_path)
    assert asked == []  # nothing left to recover
    other.review.prompts = False


def test_offscreen_open_recovers_without_asking(window, nifti_path):
    volume = read_volume(nifti_path)
    ws = Workspace.create(default_workspace_dir(nifti_path), nifti_path, volume)
    ws.apply_edit(_box_edit(ws.corrected.array, 0, 1, 1, 2))
    ws.close()
    assert not window.review.prompts  # tests run offscreen
    window.open_path(nifti_path)
    assert window.session.corrected.array[0].any() and window.session.dirty


@pytest.mark.parametrize("answer", ["cancel", "discard", "save"])
def test_close_with_unsaved_work_asks(window, nifti_path, monkeypatch, answer):
    window.open_path(nifti_path)
    s = window.session
    s.apply_edit(_box_edit(s.editable_labels().array, 2, 3, 3, 1))
    assert s.dirty and window.windowTitle().endswith("*")
    buttons = QMessageBox.StandardButton
    asked: list[str] = []
    reply = {"cancel": buttons.Cancel, "discard": buttons.Discard, "save": buttons.Save}[answer]
    monkeypatch.setattr(QMessageBox, "question", lambda parent, title, text, *a: asked.append(text) or reply)
    window.review.prompts = True
    closed = window.close()
    window.review.prompts = False
    folder = default_workspace_dir(nifti_path)
    assert asked == [f"Save the review of {nifti_path.name}?"]
    assert closed == (answer != "cancel") and window.isVisible() == (answer == "cancel")
    journal = (folder / JOURNAL_FILE).read_bytes() if (folder / JOURNAL_FILE).exists() else b""
    saved = read_labels(folder / "labels.nii.gz").array
    if answer == "save":
        assert saved[2].any() and journal == b""
    elif answer == "discard":
        assert not saved[2].any() and journal == b""  # nothing to recover next time
    else:
        assert journal.count(b"\n") >= 1 and s.dirty


def test_opening_another_series_asks_too(window, nifti_path, tmp_path, monkeypatch):
    from core_models.io import write_volume
    from tests.viewer.conftest import make_volume

    second = write_volume(make_volume(nz=4, seed=3), tmp_path / "second.nii.gz")
    window.open_path(nifti_path)
    window.review.controller.set_status(0, "accepted")
    monkeypatch.setattr(QMessageBox, "question", lambda *a: QMessageBox.StandardButton.Cancel)
    window.review.prompts = True
    assert not window.open_path(second) and window.session.path == nifti_path
    monkeypatch.setattr(QMessageBox, "question", lambda *a: QMessageBox.StandardButton.Save)
    assert window.open_path(second) and window.session.n_slices == 4
    window.review.prompts = False
    assert Workspace.open(default_workspace_dir(nifti_path)).status(0) == "accepted"


def test_export_from_the_ui_writes_each_format(window, nifti_path, tmp_path, monkeypatch):
    window.open_path(nifti_path)
    s = window.session
    s.apply_edit(_box_edit(s.editable_labels().array, 3, 12, 12, 2))
    s.apply_edit(_box_edit(s.corrected.array, 3, 20, 20, 1))
    out = tmp_path / "export"

    def fake_exec(dialog: ExportDialog) -> int:
        for box in dialog.boxes.values():
            box.setChecked(True)
        dialog.folder.setText(str(out))
        return QDialog.DialogCode.Accepted.value

    monkeypatch.setattr(ExportDialog, "exec", fake_exec)
    window.review.export_action.trigger()
    stem = "small"
    nifti, seg = out / f"{stem}_labels.nii.gz", out / f"{stem}_labels.seg.nrrd"
    assert np.array_equal(read_labels(nifti).array, s.corrected.array)
    assert np.array_equal(read_labels(seg).array, s.corrected.array)
    ours = read_label_png(out / f"{stem}_png" / "slice_0003.png")
    seed = read_label_png(out / f"{stem}_png_seed" / "slice_0003.png")
    assert set(np.unique(ours)) == {0, 1, 2} and np.array_equal(ours, s.corrected.array[3])
    assert np.array_equal(seed == 3, s.corrected.array[3] == 2) and np.array_equal(seed == 2, ours == 1)
    assert len(list((out / f"{stem}_png").glob("*.png"))) == 6
    assert "exported" in window.statusBar().currentMessage()


def test_save_as_chosen_folder_is_found_again(window, nifti_path, tmp_path, monkeypatch, qtbot):
    chosen = tmp_path / "elsewhere"
    chosen.mkdir()
    window.open_path(nifti_path)
    window.review.controller.set_status(1, "flagged")
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(chosen))
    assert window.review.save_as_action.isEnabled()
    window.review.save_as_action.trigger()
    assert Workspace.open(chosen).status(1) == "flagged" and not window.session.dirty
    other = _new_window(qtbot)
    other.open_path(nifti_path)
    assert other.review.controller.workspace.folder == chosen and other.session.review_status(1) == "flagged"


def test_rerun_keeps_accepted_and_corrected_slices(window, nifti_path):
    window.open_path(nifti_path)
    s, c = window.session, window.review.controller
    shape = s.volume.shape[1:]
    s.begin_prediction("run-1")
    for z in range(6):
        s.add_slice_result(_fake_result(z, shape))
    under_edit = s.corrected.array[2, 0:6, 0:6].copy()
    s.apply_edit(_box_edit(s.corrected.array, 2, 0, 0, 2, size=6))  # slice 2: corrected
    c.set_status(4, "accepted")
    c.set_status(5, "flagged")
    kept = {z: s.corrected.array[z].copy() for z in (2, 4)}
    corrected_map = s.corrected
    s.begin_prediction("run-2")  # a re-run: new labels everywhere
    for z in range(6):
        result = _fake_result(z, shape)
        result.labels[:] = 1
        s.add_slice_result(result)
    assert s.corrected is corrected_map and c.workspace.corrected is corrected_map
    for z in (2, 4):
        assert np.array_equal(s.corrected.array[z], kept[z])
    for z in (0, 1, 3, 5):
        assert (s.corrected.array[z] == 1).all()  # unreviewed (and flagged-unedited) slices take the new run
    assert (s.predicted.array == 1).all() and s.dirty
    c.save()
    assert read_labels(default_workspace_dir(nifti_path) / "prediction.nii.gz").array.min() == 1
    s.undo_stack.undo()  # the edit on slice 2 is still undoable after the re-run
    assert np.array_equal(s.corrected.array[2, 0:6, 0:6], under_edit) and (s.corrected.array[2, 0:6, 0:6] != 2).all()


def test_unreadable_workspace_is_reported_and_never_overwritten(window, nifti_path):
    folder = default_workspace_dir(nifti_path)
    folder.mkdir()
    (folder / "review.json").write_text("{not json")
    assert window.open_path(nifti_path)  # the CT still opens
    assert window.errors_shown and "not loaded" in window.errors_shown[-1]
    assert len(window.errors_shown[-1].splitlines()) == 1
    assert not window.review.toggle("accepted")  # no new workspace on top of the broken one
    assert (folder / "review.json").read_text() == "{not json" and "Save workspace as" in window.errors_shown[-1]
