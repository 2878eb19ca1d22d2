"""Cheap slice changes: throttled panel follow-ups end in the right state, steady status labels,
the CT / overlay fast renders draw the same pixels, and the view's texts live in its scene."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QHBoxLayout, QWidget

from core_models.prediction import RoI, SliceResult
from tests.viewer.conftest import make_volume
from viewer.overlays import OverlayStyle, label_lut
from viewer.panels.updates import SteadyLabel, Throttle
from viewer.view_items import CTImage, OverlayImage, TextBadge


def _rgb(qimage: QImage) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a QImage (any format)."""
    img = qimage.convertToFormat(QImage.Format.Format_RGB888)
    h, w = img.height(), img.width()
    rows = np.frombuffer(img.constBits(), np.uint8, h * img.bytesPerLine()).reshape(h, -1)
    return rows[:, :w * 3].reshape(h, w, 3).copy()  # a copy: the converted image dies with this frame


def _rgba(qimage: QImage) -> np.ndarray:
    img = qimage.convertToFormat(QImage.Format.Format_RGBA8888)
    h, w = img.height(), img.width()
    rows = np.frombuffer(img.constBits(), np.uint8, h * img.bytesPerLine()).reshape(h, -1)
    return rows[:, :w * 4].reshape(h, w, 4).copy()


def test_throttle_runs_at_once_when_idle_and_once_more_after_a_burst(qtbot):
    calls: list[int] = []
    state = [0]
    throttle = Throttle(lambda: calls.append(state[0]), 50)
    state[0] = 1
    throttle.request()
    assert calls == [1]  # leading edge: at once
    for value in range(2, 30):  # a burst inside the interval: nothing now, one call later with the last state
        state[0] = value
        throttle.request()
    assert calls == [1] and throttle.pending
    qtbot.waitUntil(lambda: len(calls) == 2, timeout=2000)
    assert calls == [1, 29] and not throttle.pending
    state[0] = 40
    throttle.request()
    assert calls == [1, 29] and throttle.pending  # still inside the interval of the last call
    throttle.flush()
    assert calls == [1, 29, 40] and not throttle.pending
    qtbot.wait(150)
    assert calls == [1, 29, 40]  # nothing pending: the timer stops without a call
    state[0] = 41
    throttle.request()
    assert calls == [1, 29, 40, 41]  # idle again: at once


def _with_results(window, nifti_path) -> None:
    window.open_path(nifti_path)
    s = window.session
    s.begin_prediction("fake")
    ny, nx = s.volume.shape[1:]
    for z in range(s.n_slices):
        labels = np.zeros((ny, nx), np.uint8)
        labels[5:10 + z, 4:12] = 1
        rois = [RoI((4.0, 5.0, 12.0, 10.0 + z), 1 + z % 2, 0.95 - 0.01 * k, np.zeros((28, 28), np.float16))
                for k in range(1 + z % 3)]
        s.add_slice_result(SliceResult(z, rois, labels, np.array([0.1, 0.2, 0.7]), {1: 10.0}))


def test_fast_scroll_ends_with_every_panel_on_the_last_slice(window, nifti_path, qtbot):
    _with_results(window, nifti_path)
    s, panel, roi, cls = window.session, window.review.panel, window.roi_panel, window.class_panel
    qtbot.wait(250)  # idle: the next change is shown at once
    s.set_slice(1)
    assert panel.table.selectionModel().selectedRows()[0].row() == panel.row_of(1)
    for z in (2, 3, 4, 5, 0, 3, 2):  # faster than the throttle interval
        s.set_slice(z)
        QApplication.processEvents()
    # synchronous parts: RoI list and boxes, status bar, this slice's probabilities, the note
    expected = [f"#{k}  {roi._name(1)}  score {0.95 - 0.01 * k:.2f}" for k in range(3)]
    assert [roi.list.item(r).text() for r in range(roi.list.count())] == expected
    assert len(window.views["axial"].shown_boxes()) == 3
    assert window.slice_label.text() == "slice 3/6"
    # throttled parts: the review table's row and the z-plot markers follow within the interval
    qtbot.waitUntil(lambda: panel.table.selectionModel().selectedRows()[0].row() == panel.row_of(2), timeout=2000)
    assert panel.table.currentIndex().row() == panel.row_of(2)
    qtbot.waitUntil(lambda: all(m.value() == 2 for m in cls.markers), timeout=2000)
    assert not panel.selection.pending and not cls.marker_update.pending


def test_review_table_follows_after_sorting(window, nifti_path, qtbot):
    from PySide6.QtCore import Qt

    _with_results(window, nifti_path)
    panel = window.review.panel
    panel.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
    qtbot.wait(250)
    window.session.set_slice(4)
    window.session.set_slice(1)
    qtbot.waitUntil(lambda: panel.slice_at(panel.table.currentIndex().row()) == 1, timeout=2000)


class _LayoutRequests(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.LayoutRequest:
            self.count += 1
        return False


def test_steady_label_relays_out_only_to_grow(qtbot):
    top = QWidget()
    qtbot.addWidget(top)
    layout = QHBoxLayout(top)
    label = SteadyLabel()
    label.setMinimumWidth(60)
    layout.addWidget(label)
    top.show()
    label.setText("slice 88/88")
    QApplication.processEvents()
    width = label.width()
    assert width >= 60 and label.minimumWidth() == label.maximumWidth() == width
    requests = _LayoutRequests()
    top.installEventFilter(requests)
    for text in ("slice 10/72", "slice 1/72", "slice 11/72"):  # no wider than the first
        label.setText(text)
        QApplication.processEvents()
    assert label.text() == "slice 11/72" and requests.count == 0 and label.width() == width
    label.setText("slice 11/72 of a very much longer series name")
    QApplication.processEvents()
    assert requests.count >= 1 and label.width() > width  # grows when the text needs it
    assert label.sizeHint().width() <= label.width()


def test_ct_image_draws_the_same_pixels_as_pyqtgraph(qtbot):
    cut = make_volume(nz=1, ny=40, nx=48).array[0].copy()
    cut[0, :6] = [-32768, -1351, -1350, 149, 150, 32767]
    for levels in ((-1350.0, 150.0), (-160.0, 240.0), (0.0, 255.0)):
        ours, theirs = CTImage(axisOrder="row-major"), pg.ImageItem(axisOrder="row-major")
        for item in (ours, theirs):
            item.setImage(cut, levels=levels, autoLevels=False)
            item.render()
        assert ours.qimage.format() == QImage.Format.Format_RGB32  # opaque: no blending when drawn
        assert np.array_equal(_rgb(ours.qimage), _rgb(theirs.qimage))
    ours.setLevels((-1000.0, 0.0))  # a new window re-renders through a new table
    ours.render()
    expected = np.clip((cut.astype(np.float32) + 1000.0) * (255.0 / 1000.0), 0, 255).astype(np.uint8)
    assert np.array_equal(_rgb(ours.qimage)[..., 0], expected)
    floats = CTImage(axisOrder="row-major")  # anything else goes through pyqtgraph
    floats.setImage(cut.astype(np.float32), levels=(-1000.0, 0.0), autoLevels=False)
    floats.render()
    assert np.array_equal(_rgb(floats.qimage)[..., 0], expected)


def test_overlay_image_is_premultiplied_and_matches_the_table(qtbot):
    lut = label_lut(OverlayStyle(opacity=0.45))
    labels = np.zeros((20, 30), np.uint8)
    labels[2:8, 3:9], labels[10:15, 12:25] = 1, 2
    item = OverlayImage(axisOrder="row-major")
    item.setImage(labels, lut=lut, levels=(0, 255), autoLevels=False)
    item.render()
    assert item.qimage.format() == QImage.Format.Format_ARGB32_Premultiplied
    got, want = _rgba(item.qimage).astype(int), lut[labels].astype(int)
    assert np.array_equal(got[..., 3], want[..., 3])
    shown = want[..., 3] > 0
    assert np.abs(got[shown][:, :3] - want[shown][:, :3]).max() <= 2  # un-premultiplied round trip
    item.setImage(labels[:10], lut=lut, levels=(0, 255), autoLevels=False)  # a new crop shape: a new buffer
    item.render()
    assert item.qimage.height() == 10 and np.array_equal(_rgba(item.qimage)[..., 3], want[:10, :, 3])


def test_view_texts_are_scene_items_that_let_clicks_through(window, nifti_path):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QLabel

    window.open_path(nifti_path)
    axial = window.views["axial"]
    assert not axial.graphics.findChildren(QLabel)  # no widget over the viewport to repaint per change
    badges = [*axial.letters.values(), axial.info]
    assert all(isinstance(b, TextBadge) and b.scene() is axial.graphics.scene() for b in badges)
    assert all(b.acceptedMouseButtons() == Qt.MouseButton.NoButton for b in badges)
    window.session.set_slice(2)
    assert axial.info.text().startswith("axial 3/6")
    w, h = axial.graphics.width(), axial.graphics.height()
    right = axial.letters["right"]
    assert abs(right.pos().x() + right.size()[0] - (w - 4)) <= 1 and abs(right.pos().y() + right.size()[1] / 2 - h / 2) <= 1
