"""Undo/redo of edits, keys, live repaint, RoI accept/reject and undo memory."""
from __future__ import annotations

import tracemalloc

import numpy as np
from PySide6.QtCore import QEvent, Qt

from core_models.editing.tools import roi_mask
from core_models.volume import CTVolume, Geometry
from tests.viewer.conftest import send_mouse
from tests.viewer.editing_helpers import LEFT, drag, edit_window, viewport_point  # noqa: F401 - fixture

CTRL, SHIFT = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier


def test_one_drag_is_one_step_repainting_only_the_overlay(edit_window, monkeypatch):
    w, s, ax = edit_window, edit_window.session, edit_window.views["axial"]
    before = s.corrected.array.copy()
    boxes, applied, ct_redraws, overlay_redraws = [], [], [], []
    s.labelsChanged.connect(boxes.append)
    s.editApplied.connect(applied.append)
    original_overlay = ax.overlay.setImage
    monkeypatch.setattr(ax.image, "setImage", lambda *a, **k: ct_redraws.append(1))
    monkeypatch.setattr(ax.overlay, "setImage", lambda *a, **k: (overlay_redraws.append(1), original_overlay(*a, **k)))
    regions, original_update = [], ax.overlay.update
    monkeypatch.setattr(ax.overlay, "update", lambda *a: (regions.append(ax.overlay.dirty), original_update(*a)))
    w.editing.set_tool("brush")
    w.editing.set_label(2)
    w.editing.set_size_mm(4.0)
    path = [(20.5 + 4 * i, 10.5 + 3 * i) for i in range(15)]
    drag(ax, path)
    after = s.corrected.array.copy()
    assert s.undo_stack.count() == 1 and len(applied) == 1  # fifteen moves, one step
    assert not ct_redraws and len(overlay_redraws) >= 10  # live: only the label overlay is redrawn
    live = boxes[:-1]
    small = [r for r in regions if r is not None][:-1]  # live repaint regions (overlay pixels), not the commit
    assert len(small) >= 10 and all(r.width() <= 14 and r.height() <= 14 for r in small)
    assert all(b[:2] == (1, 2) and (b[3] - b[2]) <= 12 and (b[5] - b[4]) <= 12 for b in live)  # small boxes
    edit = applied[0]
    assert edit.count == int((after != before).sum()) and edit.slices == range(1, 2)
    assert boxes[-1] == edit.bbox
    s.undo_stack.undo()
    assert np.array_equal(s.corrected.array, before)
    assert np.array_equal(applied[-1].new, edit.old) and np.array_equal(applied[-1].old, edit.new)
    assert boxes[-1] == edit.bbox  # views repaint the undone region
    s.undo_stack.redo()
    assert np.array_equal(s.corrected.array, after) and np.array_equal(applied[-1].new, edit.new)


def test_undo_redo_keys_and_edit_menu(edit_window, qtbot):
    w, s, ax = edit_window, edit_window.session, edit_window.views["axial"]
    w.activateWindow()
    ax.setFocus()
    before = s.corrected.array.copy()
    w.editing.set_tool("brush")
    drag(ax, [(30.5, 40.5), (60.5, 45.5)])
    drag(ax, [(70.5, 10.5), (75.5, 30.5)])
    two = s.corrected.array.copy()
    assert s.undo_stack.count() == 2 and w.undo_action.isEnabled() and not w.redo_action.isEnabled()
    qtbot.keyClick(ax, Qt.Key.Key_Z, CTRL)
    qtbot.keyClick(ax, Qt.Key.Key_Z, CTRL)
    assert np.array_equal(s.corrected.array, before) and not w.undo_action.isEnabled()
    qtbot.keyClick(ax, Qt.Key.Key_Z, CTRL | SHIFT)
    qtbot.keyClick(ax, Qt.Key.Key_Y, CTRL)
    assert np.array_equal(s.corrected.array, two)
    assert "stroke" in w.undo_action.text()
    menu = [a.menu() for a in w.menuBar().actions() if a.text() == "&Edit"][0]
    assert w.undo_action in menu.actions() and w.redo_action in menu.actions()


def test_tool_label_and_size_keys(edit_window, qtbot):
    w, ax, panel = edit_window, edit_window.views["axial"], edit_window.tools_panel
    w.activateWindow()
    ax.setFocus()
    keys = {Qt.Key.Key_B: "brush", Qt.Key.Key_E: "eraser", Qt.Key.Key_H: "hu_brush", Qt.Key.Key_G: "fill",
            Qt.Key.Key_P: "polygon", Qt.Key.Key_I: "islands"}
    for key, tool in keys.items():
        qtbot.keyClick(ax, key)
        assert w.editing.state.tool == tool and panel.tool_buttons[tool].isChecked()
    qtbot.keyClick(ax, Qt.Key.Key_W)
    assert w.editing.state.label == 2 and panel.label_buttons[2].isChecked()
    qtbot.keyClick(ax, Qt.Key.Key_Q)
    assert w.editing.state.label == 1 and panel.label_buttons[1].isChecked()
    size = w.editing.state.size_mm
    qtbot.keyClick(ax, Qt.Key.Key_BracketRight)
    assert w.editing.state.size_mm > size and panel.size.value() == w.editing.state.size_mm
    qtbot.keyClick(ax, Qt.Key.Key_BracketLeft)
    qtbot.keyClick(ax, Qt.Key.Key_BracketLeft)
    assert w.editing.state.size_mm < size
    qtbot.keyClick(ax, Qt.Key.Key_Escape)
    assert w.editing.state.tool == "navigate" and panel.tool_buttons["navigate"].isChecked()
    qtbot.keyClick(ax, Qt.Key.Key_2)  # 1-4 stay window presets
    assert w.session.window.width == 350 and w.editing.state.label == 1
    panel.tool_buttons["fill"].click()  # and the panel drives the same state
    assert w.editing.state.tool == "fill"


def test_reject_removes_the_rois_pixels_and_accept_confirms_it(edit_window, qtbot):
    w, s, panel = edit_window, edit_window.session, edit_window.roi_panel
    predicted, before = s.predicted.array.copy(), s.corrected.array.copy()
    assert not panel.reject_button.isEnabled()
    s.select_roi(0)
    assert panel.reject_button.isEnabled() and panel.accept_button.isEnabled()
    roi = s.slice_result().rois[0]
    m, (y0, x0) = roi_mask(before[1], roi)
    panel.reject_button.click()
    removed = np.zeros(before.shape[1:], bool)
    removed[y0:y0 + m.shape[0], x0:x0 + m.shape[1]] = m
    assert removed.sum() > 50
    assert np.array_equal(s.corrected.array[1], np.where(removed, 0, before[1]))
    assert np.array_equal(s.predicted.array, predicted) and s.undo_stack.count() == 1
    assert w.display_panel.source.currentData() == "corrected"
    s.undo_stack.undo()
    assert np.array_equal(s.corrected.array, before)
    with qtbot.waitSignal(s.roiConfirmed, timeout=1000) as blocker:
        panel.accept_button.click()
    assert blocker.args[0] == 1 and blocker.args[1] is roi
    assert np.array_equal(s.corrected.array, before)  # accepting keeps the pixels


def test_changing_slice_mid_drag_commits_the_stroke(edit_window):
    w, s, ax = edit_window, edit_window.session, edit_window.views["axial"]
    w.editing.set_tool("eraser")
    viewport = ax.graphics.viewport()
    send_mouse(viewport, QEvent.Type.MouseButtonPress, viewport_point(ax, 30.5, 25.5), LEFT, LEFT)
    s.set_slice(2)
    assert s.undo_stack.count() == 1 and w.editing.stroke is None
    send_mouse(viewport, QEvent.Type.MouseMove, viewport_point(ax, 70.5, 55.5), Qt.MouseButton.NoButton, LEFT)
    assert (s.corrected.array[2] == s.predicted.array[2]).all()  # the new slice is not painted


def test_new_volume_clears_the_undo_stack(edit_window, nifti_path):
    w, s = edit_window, edit_window.session
    w.editing.set_tool("brush")
    drag(w.views["axial"], [(30.5, 40.5)])
    assert s.undo_stack.count() == 1
    assert w.open_path(nifti_path)
    assert s.undo_stack.count() == 0


def test_thousand_strokes_on_512x512x300_stay_small(qtbot):
    """1,000 brush strokes of 8 points: undo holds only changed voxels (6 B each), < 16 MB in all."""
    from viewer.editing.controller import EditController
    from viewer.session import ReviewSession
    from viewer.slice_view import SliceView

    session = ReviewSession()
    view = SliceView(session, "axial")
    qtbot.addWidget(view)
    session.set_volume(CTVolume(np.zeros((300, 512, 512), np.int16), Geometry((1.0, 0.7, 0.7))))
    controller = EditController(session, view)
    controller.set_tool("brush")
    controller.set_size_mm(4.0)
    rng = np.random.default_rng(0)
    session.editable_labels()
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    for i in range(1000):
        session.set_slice(int(rng.integers(300)))
        points = np.cumsum(rng.normal(0, 6, (8, 2)), axis=0) + rng.uniform(60, 450, 2)
        controller.begin_stroke(tuple(points[0]))
        for p in points[1:]:
            controller._stroke_to(tuple(p))
        assert controller.finish_stroke()
    grown = tracemalloc.get_traced_memory()[0] - start
    tracemalloc.stop()
    stack = session.undo_stack
    assert stack.count() == 1000
    held = sum(stack.command(i).nbytes for i in range(stack.count()))
    changed = sum(stack.command(i).edit.count for i in range(stack.count()))
    assert held == 6 * changed and held < 16e6
    assert grown < held + 2e6  # nothing else (no slice copies) stays behind
    assert int((session.corrected.array != 0).sum()) <= changed
