"""Every editing tool through real mouse events on the axial view (pytest-qt, offscreen)."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, Qt
from scipy import ndimage

from core_models.editing import LabelEdit
from core_models.editing.tools import flood_fill_mask, island_mask, polygon_mask, stroke_mask
from core_models.io import write_volume
from tests.viewer.conftest import make_volume, send_mouse
from tests.viewer.editing_helpers import (  # noqa: F401 - edit_window is a fixture
    NX,
    NY,
    RIGHT,
    SPACING_YX,
    centres,
    click,
    disk,
    drag,
    edit_window,
    hover,
)


def test_brush_drag_paints_the_stroke_shows_the_cursor_and_keeps_the_prediction(edit_window):
    w, s, ax = edit_window, edit_window.session, edit_window.views["axial"]
    predicted, before = s.predicted.array.copy(), s.corrected.array.copy()
    assert w.display_panel.source.currentData() == "prediction"
    w.editing.set_tool("brush")
    w.editing.set_size_mm(5.0)
    pts = drag(ax, [(15.5, 40.5), (20.5, 45.5), (30.5, 50.5), (40.5, 52.5)])
    found = stroke_mask((NY, NX), centres(pts), 2.5, SPACING_YX)
    mask = np.zeros((NY, NX), bool)
    (m, (y0, x0)) = found
    mask[y0:y0 + m.shape[0], x0:x0 + m.shape[1]] = m
    z = s.current_slice
    assert np.array_equal(s.corrected.array[z], np.where(mask, 1, before[z]))
    assert np.array_equal(np.delete(s.corrected.array, z, 0), np.delete(before, z, 0))
    assert np.array_equal(s.predicted.array, predicted)  # the prediction stays as it was
    assert w.display_panel.source.currentData() == "corrected"  # the overlay shows what was edited
    assert s.undo_stack.count() == 1
    cursor = w.editing.cursor
    row, col = pts[-1]
    assert cursor.isVisible() and cursor.rect().width() == pytest.approx(5.0)
    assert cursor.centre_mm() == pytest.approx((col * SPACING_YX[1], row * SPACING_YX[0]))


def test_brush_size_is_in_mm_on_anisotropic_pixels(edit_window):
    w, s, ax = edit_window, edit_window.session, edit_window.views["axial"]
    w.editing.set_tool("brush")
    w.editing.set_size_mm(16.0)
    before = s.corrected.array[1].copy()
    drag(ax, [(60.5, 20.5)])
    rows, cols = np.nonzero(s.corrected.array[1] != before)
    height_mm = (rows.max() - rows.min() + 1) * SPACING_YX[0]
    width_mm = (cols.max() - cols.min() + 1) * SPACING_YX[1]
    assert height_mm == pytest.approx(16.0, abs=2 * SPACING_YX[0])
    assert width_mm == pytest.approx(16.0, abs=2 * SPACING_YX[1])
    assert rows.max() - rows.min() != cols.max() - cols.min()  # an ellipse in pixels, a circle in mm
    rect = w.editing.cursor.rect()  # the cursor circle covers the same ellipse of pixels
    assert rect.height() / SPACING_YX[0] == pytest.approx(rows.max() - rows.min() + 1, abs=1.5)
    assert rect.width() / SPACING_YX[1] == pytest.approx(cols.max() - cols.min() + 1, abs=1.5)


def test_fast_stroke_leaves_no_gap(edit_window):
    w, s, ax = edit_window, edit_window.session, edit_window.views["axial"]
    w.editing.set_tool("brush")
    w.editing.set_label(2)
    w.editing.set_size_mm(1.5)
    s.corrected.array[1] = 0
    (r0, c0), (r1, c1) = drag(ax, [(8.5, 5.5), (88.5, 74.5)])  # one move across the whole slice
    t = np.linspace(0.0, 1.0, 400)
    rows = np.floor(r0 + t * (r1 - r0)).astype(int)
    cols = np.floor(c0 + t * (c1 - c0)).astype(int)
    assert (s.corrected.array[1][rows, cols] == 2).all()  # every pixel on the line is painted
    assert ndimage.label(s.corrected.array[1] == 2)[1] == 1  # one 4-connected band
    assert s.undo_stack.count() == 1


def test_eraser_erases_any_label_or_only_the_active_one(edit_window):
    w, s, ax = edit_window, edit_window.session, edit_window.views["axial"]
    predicted = s.predicted.array.copy()
    w.editing.set_tool("eraser")
    w.editing.set_size_mm(30.0)
    drag(ax, [(45.5, 62.5)])  # over the consolidation blob
    assert (s.corrected.array[1][disk((NY, NX), 45, 60, 5)] == 0).all()
    s.undo_stack.undo()
    w.editing.set_erase_only_active(True)
    w.editing.set_label(1)  # only GGO: the consolidation blob stays
    drag(ax, [(45.5, 62.5), (68.5, 56.5)])
    assert (s.corrected.array[1][disk((NY, NX), 45, 60, 5)] == 2).all()
    assert (s.corrected.array[1][disk((NY, NX), 70, 55, 3)] == 0).all()
    assert np.array_equal(s.predicted.array, predicted)


def test_hu_brush_paints_only_inside_the_range(edit_window):
    w, s, ax = edit_window, edit_window.session, edit_window.views["axial"]
    w.editing.set_tool("hu_brush")
    w.editing.set_preset("consolidation")
    assert w.editing.state.value_range == (-150.0, 100.0)
    assert w.tools_panel.range_min.value() == -150 and w.tools_panel.range_max.value() == 100
    w.editing.set_size_mm(8.0)
    before = s.corrected.array[1].copy()
    pts = drag(ax, [(50.5, 2.5), (50.5, 12.5)])  # across body wall (≈40 HU) and lung (≈-850 HU)
    m, (y0, x0) = stroke_mask((NY, NX), centres(pts), 4.0, SPACING_YX)
    brush = np.zeros((NY, NX), bool)
    brush[y0:y0 + m.shape[0], x0:x0 + m.shape[1]] = m
    ct = s.volume.array[1]
    in_range = (ct >= -150) & (ct <= 100)
    changed = s.corrected.array[1] != before
    assert changed.any() and np.array_equal(changed, brush & in_range & (before != 1))
    assert (brush & ~in_range).any()  # the brush covered lung pixels it did not paint


def test_hu_brush_on_8bit_uses_grey_values(window, tmp_path):
    volume = make_volume(2, 64, 64, is_hu=False)
    assert window.open_path(write_volume(volume, tmp_path / "grey.nii.gz"))
    panel, s = window.tools_panel, window.session
    assert not s.volume.is_hu
    assert panel.range_title.text() == "Grey range" and "grey values" in panel.range_note.text()
    assert not panel.preset.model().item(0).isEnabled()  # HU presets do not apply
    panel.range_min.setValue(100)
    panel.range_max.setValue(180)
    assert window.editing.state.value_range == (100.0, 180.0)
    window.editing.set_tool("hu_brush")
    window.editing.set_size_mm(20.0)
    drag(window.views["axial"], [(32.5, 32.5)])
    z = s.current_slice
    painted = s.corrected.array[z] == 1
    grey = s.volume.array[z]
    assert painted.any() and (grey[painted] >= 100).all() and (grey[painted] <= 180).all()


def _ring(session, z: int) -> np.ndarray:
    """Put a closed square ring of consolidation on slice z; return its inside."""
    labels = session.corrected.array
    ring = np.zeros((NY, NX), bool)
    ring[20:60, 30:70] = True
    ring[23:57, 33:67] = False
    session.apply_edit(LabelEdit.from_mask(labels, z, ring, 2))
    inside = np.zeros((NY, NX), bool)
    inside[23:57, 33:67] = True
    return inside


def test_fill_bounded_by_the_label(edit_window):
    w, s, ax = edit_window, edit_window.session, edit_window.views["axial"]
    s.corrected.array[1] = 0  # a clean slice
    inside = _ring(s, 1)
    before = s.corrected.array[1].copy()
    w.editing.set_tool("fill")
    seed = click(ax, 40.5, 50.5)
    expected_mask = flood_fill_mask(before, centres([seed])[0])
    assert expected_mask is not None
    after = s.corrected.array[1]
    assert (after[inside] == 1).all() and (after[~inside] == before[~inside]).all()
    assert s.undo_stack.count() == 2


def test_fill_bounded_by_an_hu_range(edit_window):
    w, s, ax = edit_window, edit_window.session, edit_window.views["axial"]
    s.corrected.array[1] = 0
    w.editing.set_tool("fill")
    w.editing.set_fill_mode("range")
    w.editing.set_range(-900, -700)
    seed = click(ax, 50.5, 15.5)  # in the right lung
    m, (y0, x0) = flood_fill_mask(s.corrected.array[1] * 0, centres([seed])[0], ct2d=s.volume.array[1],
                                  value_range=(-900, -700))
    expected = np.zeros((NY, NX), bool)
    expected[y0:y0 + m.shape[0], x0:x0 + m.shape[1]] = m
    assert np.array_equal(s.corrected.array[1] == 1, expected)
    assert expected[:, NX // 2:].sum() == 0  # the other lung is not connected
    click(ax, 2.5, 2.5)  # air outside the body is out of range too: nothing more is filled
    assert np.array_equal(s.corrected.array[1] == 1, expected)


def test_polygon_closed_by_double_click_or_enter_and_cancelled_by_esc(edit_window, qtbot):
    w, s, ax = edit_window, edit_window.session, edit_window.views["axial"]
    s.corrected.array[1] = 0
    w.editing.set_tool("polygon")
    pts = [click(ax, r, c) for r, c in ((10.5, 10.5), (10.5, 40.5), (50.5, 45.5))]
    assert w.editing.preview.isVisible() and not s.corrected.array[1].any()
    pts.append(click(ax, 60.5, 12.5))
    click(ax, 60.5, 12.5, double=True)
    m, (y0, x0) = polygon_mask((NY, NX), centres(pts))
    expected = np.zeros((NY, NX), bool)
    expected[y0:y0 + m.shape[0], x0:x0 + m.shape[1]] = m
    assert np.array_equal(s.corrected.array[1] == 1, expected) and not w.editing.preview.isVisible()
    s.corrected.array[1] = 0
    for r, c in ((70.5, 50.5), (70.5, 70.5), (90.5, 60.5)):
        click(ax, r, c)
    qtbot.keyClick(ax, Qt.Key.Key_Return)
    assert s.corrected.array[1, 72:80, 57:63].all()
    before = s.corrected.array[1].copy()
    click(ax, 5.5, 5.5)
    click(ax, 5.5, 30.5)
    qtbot.keyClick(ax, Qt.Key.Key_Escape)  # cancels the polygon, keeps the tool
    assert w.editing.polygon == [] and w.editing.state.tool == "polygon"
    click(ax, 30.5, 30.5)
    qtbot.keyClick(ax, Qt.Key.Key_Escape)
    qtbot.keyClick(ax, Qt.Key.Key_Escape)  # then leaves editing
    assert w.editing.state.tool == "navigate" and np.array_equal(s.corrected.array[1], before)


def test_islands_click_removes_one_component(edit_window):
    w, s, ax = edit_window, edit_window.session, edit_window.views["axial"]
    before = s.corrected.array[1].copy()
    w.editing.set_tool("islands")
    seed = click(ax, 30.5, 25.5)
    m, (y0, x0) = island_mask(before, centres([seed])[0])
    removed = np.zeros((NY, NX), bool)
    removed[y0:y0 + m.shape[0], x0:x0 + m.shape[1]] = m
    assert removed.sum() == disk((NY, NX), 30, 25, 6).sum()
    assert np.array_equal(s.corrected.array[1], np.where(removed, 0, before))
    assert (s.corrected.array[1][disk((NY, NX), 70, 55, 5)] == 1).all()  # the other GGO blob stays
    click(ax, 5.5, 5.5)  # background: nothing to remove, no undo step
    assert s.undo_stack.count() == 1


def test_left_drag_pans_only_when_navigating_and_right_drag_keeps_the_window(edit_window, qtbot):
    w, s, ax = edit_window, edit_window.session, edit_window.views["axial"]
    before = s.corrected.array.copy()
    start = ax.viewbox.viewRange()
    w.editing.set_tool("brush")
    drag(ax, [(40.5, 40.5), (45.5, 50.5), (50.5, 60.5)])
    assert ax.viewbox.viewRange() == start and s.undo_stack.count() == 1  # painted, no pan
    painted = s.corrected.array.copy()
    window_before = s.window
    qtbot.wait(100)  # pyqtgraph ignores moves closer together than its rate limit
    drag(ax, [(40.5, 40.5), (30.5, 60.5), (20.5, 70.5)], button=RIGHT)
    assert s.window != window_before and np.array_equal(s.corrected.array, painted)
    w.editing.set_tool("navigate")
    qtbot.wait(100)
    drag(ax, [(40.5, 40.5), (45.5, 50.5), (50.5, 60.5)])
    assert ax.viewbox.viewRange() != start and np.array_equal(s.corrected.array, painted)
    assert not np.array_equal(painted, before)


def test_hover_moves_the_cursor_and_keeps_the_value_readout(edit_window, qtbot):
    w, ax = edit_window, edit_window.views["axial"]
    w.editing.set_tool("brush")
    row, col = hover(ax, 33.5, 21.5)
    assert w.editing.cursor.centre_mm() == pytest.approx((col * SPACING_YX[1], row * SPACING_YX[0]))
    qtbot.waitUntil(lambda: w.hu_label.text() != "", timeout=2000)  # hover still reaches the read-out
    send_mouse(ax.graphics.viewport(), QEvent.Type.Leave, QPoint(0, 0), Qt.MouseButton.NoButton,
               Qt.MouseButton.NoButton)
    w.editing.set_tool("fill")
    assert not w.editing.cursor.isVisible()


def test_esc_on_a_polygon_is_not_taken_by_the_cancel_shortcut(edit_window, qtbot, monkeypatch):
    w, ax = edit_window, edit_window.views["axial"]
    cancelled: list[bool] = []
    w.cancel_action.triggered.disconnect()
    w.cancel_action.triggered.connect(lambda *_: cancelled.append(True))
    w.cancel_action.setEnabled(True)  # as while inference runs
    w.editing.set_tool("polygon")
    w.activateWindow()
    ax.setFocus()
    click(ax, 5.5, 5.5)
    click(ax, 5.5, 30.5)
    qtbot.keyClick(ax, Qt.Key.Key_Escape)
    assert w.editing.polygon == [] and not cancelled  # the polygon took Esc
    qtbot.keyClick(ax, Qt.Key.Key_Escape)  # no polygon: Esc is the window's Cancel again
    assert cancelled
