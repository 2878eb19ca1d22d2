"""Review status per slice: keys A / F, the review list, navigation, notes, progress."""
from __future__ import annotations

import json

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from core_models.editing import LabelEdit
from core_models.workspace import WORKSPACE_FILE, default_workspace_dir, find_workspace
from viewer.panels.review_panel import SORT_ROLE


def _key(window, key, qtbot) -> None:
    window.activateWindow()
    window.views["axial"].setFocus()
    qtbot.keyClick(window.views["axial"], key)


def _status_column(window) -> list[str]:
    model = window.review.panel.model
    return [model.data(model.index(z, 1)) for z in range(model.rowCount())]


def test_viewing_creates_no_workspace(window, nifti_path):
    window.open_path(nifti_path)
    window.session.set_slice(4)
    assert window.review.controller.workspace is None and find_workspace(nifti_path) is None
    assert window.review.progress_label.text() == "0 of 6 reviewed"
    assert not window.session.dirty and window.windowTitle() == f"LesionLoop — {nifti_path.name}"


def test_keys_a_and_f_set_status_and_fill_the_list(window, nifti_path, qtbot):
    window.open_path(nifti_path)
    s = window.session
    s.set_slice(1)
    _key(window, Qt.Key.Key_A, qtbot)
    s.set_slice(4)
    _key(window, Qt.Key.Key_F, qtbot)
    assert s.review_status(1) == "accepted" and s.review_status(4) == "flagged"
    assert _status_column(window) == ["unreviewed", "accepted", "unreviewed", "unreviewed", "flagged", "unreviewed"]
    assert window.review.progress_label.text() == "2 of 6 reviewed"
    assert window.review.panel.progress_label.text() == "2 of 6 reviewed"
    # the first status change created the workspace beside the data and journalled it
    folder = default_workspace_dir(nifti_path)
    assert window.review.controller.workspace.folder == folder and find_workspace(nifti_path) == folder
    assert window.windowTitle().endswith("*") and s.dirty
    _key(window, Qt.Key.Key_F, qtbot)  # F again un-flags
    assert s.review_status(4) == "unreviewed" and window.review.progress_label.text() == "1 of 6 reviewed"


def test_first_edit_marks_the_slice_corrected(window, nifti_path):
    window.open_path(nifti_path)
    s = window.session
    s.set_slice(2)
    window.review.toggle("accepted")
    labels = s.editable_labels()
    mask = np.zeros(labels.shape[1:], bool)
    mask[20:24, 10:15] = True
    assert s.apply_edit(LabelEdit.from_mask(labels.array, 2, mask, 1))
    assert s.review_status(2) == "corrected"  # accepted, then edited: corrected
    mask2 = np.zeros_like(mask)
    mask2[5:8, 5:8] = True
    s.apply_edit(LabelEdit.from_mask(labels.array, 3, mask2, 2))
    assert s.review_status(3) == "corrected"
    ws = window.review.controller.workspace
    assert ws.edit_counts == {2: 1, 3: 1}
    window.review.toggle("accepted")  # A on a corrected slice keeps it corrected
    assert s.review_status(2) == "corrected"
    s.set_slice(3)
    window.review.toggle("flagged")
    window.review.toggle("flagged")  # un-flagging an edited slice goes back to corrected
    assert s.review_status(3) == "corrected"
    # lesion area column: 20 px * 0.7 mm * 0.8 mm on slice 2
    window.review.panel._flush_areas()
    model = window.review.panel.model
    assert float(model.data(model.index(2, 2))) == np.float64(20 * 0.7 * 0.8).round(1)


def test_next_unreviewed_and_next_flagged_wrap_round(window, nifti_path, qtbot):
    window.open_path(nifti_path)
    s, c = window.session, window.review.controller
    for z, status in ((0, "accepted"), (1, "accepted"), (2, "flagged"), (3, "accepted"), (5, "flagged")):
        c.set_status(z, status)
    s.set_slice(0)
    _key(window, Qt.Key.Key_N, qtbot)
    assert s.current_slice == 4  # the only unreviewed slice
    window.review.panel.next_flagged_button.click()
    assert s.current_slice == 5
    window.review.panel.next_flagged_button.click()
    assert s.current_slice == 2  # wrapped round
    c.set_status(4, "accepted")
    window.review.panel.next_button.click()
    assert s.current_slice == 2 and "no unreviewed slices" in window.statusBar().currentMessage()


def test_list_sorts_and_double_click_jumps(window, nifti_path, qtbot):
    window.open_path(nifti_path)
    s, c, panel = window.session, window.review.controller, window.review.panel
    c.set_status(3, "flagged")
    c.set_status(1, "corrected")
    panel.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)  # flagged > corrected > accepted > unreviewed
    assert [panel.slice_at(r) for r in range(2)] == [3, 1]
    panel.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
    assert panel.slice_at(0) == 5
    row = panel.row_of(3)
    index = panel.proxy.index(row, 0)
    assert panel.proxy.data(index, SORT_ROLE) == 3
    rect = panel.table.visualRect(index)
    window.review.dock.raise_()
    qtbot.mouseDClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert s.current_slice == 3


def test_note_editor_keeps_the_note_of_its_slice(window, nifti_path, qtbot):
    window.open_path(nifti_path)
    s, panel = window.session, window.review.panel
    s.set_slice(2)
    panel.note.setFocus()
    panel.note.setText("vessel, not GGO")
    s.set_slice(3)  # moving on while typing keeps the note on slice 2
    assert s.review_note(2) == "vessel, not GGO" and s.review_note(3) == ""
    assert panel.note.text() == ""
    assert s.review_status(2) == "unreviewed"  # a note alone does not review a slice
    model = panel.model
    assert model.data(model.index(2, 3)) == "vessel, not GGO"
    window.review.save()
    saved = json.loads((default_workspace_dir(nifti_path) / WORKSPACE_FILE).read_text())
    assert saved["notes"]["2"]["note"] == "vessel, not GGO" and saved["notes"]["2"]["user"]
    s.set_slice(2)
    QApplication.processEvents()
    assert panel.note.text() == "vessel, not GGO"


def test_a_volume_without_a_file_warns_once_then_uses_the_status_bar(window, nifti_path, monkeypatch):
    from core_models.io import read_volume

    shown: list[str] = []
    monkeypatch.setattr(window, "show_error", lambda message: shown.append(message))
    window.session.set_volume(read_volume(nifti_path))  # no path: nothing to put a workspace beside
    labels = window.session.editable_labels()
    for z in (1, 2, 3):
        mask = np.zeros(labels.shape[1:], bool)
        mask[5:9, 5:9] = True
        assert window.session.apply_edit(LabelEdit.from_mask(labels.array, z, mask, 1))
    assert len(shown) == 1 and "no file behind it" in shown[0]
    assert "no file behind it" in window.statusBar().currentMessage()
    assert labels.array[1:4, 5:9, 5:9].all()  # the edits themselves still happened
