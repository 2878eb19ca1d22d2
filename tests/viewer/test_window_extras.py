"""Drag and drop, the HU read-out, the model picker and the series dialog."""
from __future__ import annotations

import json
import shutil

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication

from core_models.io import SeriesInfo
from core_models.model_store import registry_dir
from viewer.inference_job import available_models, centre_out_order
from viewer.loading import SeriesDialog


def test_drop_a_file_opens_it(window, nifti_path, qtbot):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(nifti_path))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    qtbot.waitUntil(lambda: window.session.volume is not None, timeout=20000)  # read on a worker thread
    assert window.session.path == nifti_path


def test_value_under_cursor_is_rate_limited(window, nifti_path, qtbot):
    window.open_path(nifti_path)
    s = window.session
    axial = window.views["axial"]
    for x in range(5):
        axial.cursorMoved.emit((2, 10, x))
    assert window.hu_label.text() == ""  # nothing yet: one read-out per interval
    qtbot.waitUntil(lambda: window.hu_label.text() != "", timeout=2000)
    value = int(s.volume.array[2, 10, 4])
    assert window.hu_label.text() == f"[4, 10, 2] {value} HU"  # the latest position only
    axial.cursorMoved.emit(None)
    qtbot.waitUntil(lambda: window.hu_label.text() == "", timeout=2000)


def test_status_bar_shows_slice_and_mm(window, nifti_path):
    window.open_path(nifti_path)
    window.session.set_position((1, 0, 0))
    origin = window.session.volume.origin
    assert window.slice_label.text() == "slice 2/6"
    assert window.mm_label.text() == f"({origin[0]:.1f}, {origin[1]:.1f}, {origin[2] + 2.5:.1f}) mm"


def test_model_picker_lists_registered_versions_active_first(tiny_model_dir):
    folder = registry_dir()
    for name in ("v0001-20261101T1000", "v0002-20261102T1000"):
        shutil.copytree(tiny_model_dir, folder / name)
    (folder / "broken-one").mkdir()
    (folder / "active.json").write_text(json.dumps({"schema": 1, "version": "v0002-20261102T1000", "history": []}))
    names = [c.name for c in available_models()]
    assert names[0] == "v0002-20261102T1000" and "v0001-20261101T1000" in names
    assert "broken-one" not in names
    assert available_models()[0].label.endswith("(active)")


def test_model_picker_combo(window, tiny_model_dir):
    shutil.copytree(tiny_model_dir, registry_dir() / "v0003-20261103T1000")
    assert window.inference.refresh_models() >= 1
    assert window.inference.combo.findText("v0003-20261103T1000") >= 0


def test_series_dialog_lists_series():
    found = [SeriesInfo("1.2.3", "axial lung", 120, "CT", "20200101"), SeriesInfo("1.2.4", "scout", 2, "CT")]
    dialog = SeriesDialog(found)
    assert dialog.list.count() == 2 and "120 slices" in dialog.list.item(0).text()
    assert dialog.list.currentRow() == 0
    dialog.close()


def test_centre_out_order():
    assert centre_out_order(5, 2) == [2, 1, 3, 0, 4]
    assert sorted(centre_out_order(7, 99)) == list(range(7)) and centre_out_order(7, 99)[0] == 6


def test_keys_work_right_after_opening(window, nifti_path, qtbot):
    window.open_path(nifti_path)
    start = window.session.current_slice
    qtbot.keyClick(QApplication.focusWidget() or window.views["axial"], Qt.Key.Key_Up)
    assert window.session.current_slice == start + 1


def test_click_on_the_z_plot_jumps_to_that_slice(window, nifti_path, qtbot):
    from tests.viewer.test_inference_ui import _fake_result

    window.open_path(nifti_path)
    s = window.session
    s.begin_prediction("fake")
    for z in range(6):
        s.add_slice_result(_fake_result(z, s.volume.shape[1:]))
    window.class_dock.raise_()
    panel = window.class_panel
    qtbot.waitUntil(lambda: panel.plots.isVisible(), timeout=2000)
    panel.area_plot.setXRange(0, 5, padding=0)
    QApplication.processEvents()
    scene_pt = panel.area_plot.vb.mapViewToScene(QPointF(4.0, 10.0))
    view_pt = panel.plots.mapFromScene(scene_pt)
    qtbot.mouseClick(panel.plots.viewport(), Qt.MouseButton.LeftButton, pos=view_pt)
    assert s.current_slice == 4
