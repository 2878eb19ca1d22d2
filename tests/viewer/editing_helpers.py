"""Mouse gestures on a slice view at image-pixel positions, and the edit window, for the editing tests."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt

from core_models.io import write_volume
from core_models.prediction import RoI, SliceResult
from tests.viewer.conftest import make_volume, send_mouse

LEFT, RIGHT, NONE = Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton, Qt.MouseButton.NoButton


def viewport_point(view, row: float, col: float) -> QPoint:
    """Viewport position of plane pixel coordinates (row, col) (pixel i covers [i, i + 1))."""
    row_mm, col_mm = view._pixel_mm
    scene = view.viewbox.mapViewToScene(QPointF(col * col_mm, row * row_mm))
    return view.graphics.mapFromScene(scene)


def drag(view, pixels: list[tuple[float, float]], button=LEFT) -> list[tuple[float, float]]:
    """Press at the first pixel, move through the others, release at the last.

    Returns the (row, col) pixel coordinates the view reports for each point
    (the viewport's integer positions mapped back), for computing expectations.
    """
    viewport = view.graphics.viewport()
    points = [viewport_point(view, r, c) for r, c in pixels]
    # no hover move first: pyqtgraph drops moves closer than its rate limit, and a pan or
    # window drag needs the first move after the press
    send_mouse(viewport, QEvent.Type.MouseButtonPress, points[0], button, button)
    for point in points[1:]:
        send_mouse(viewport, QEvent.Type.MouseMove, point, NONE, button)
    send_mouse(viewport, QEvent.Type.MouseButtonRelease, points[-1], button, NONE)
    return [view.pixel_at(QPointF(p)) for p in points]


def click(view, row: float, col: float, double: bool = False) -> tuple[float, float]:
    """A left click (or the second half of a double-click) at pixel (row, col)."""
    viewport = view.graphics.viewport()
    point = viewport_point(view, row, col)
    kind = QEvent.Type.MouseButtonDblClick if double else QEvent.Type.MouseButtonPress
    send_mouse(viewport, kind, point, LEFT, LEFT)
    send_mouse(viewport, QEvent.Type.MouseButtonRelease, point, LEFT, NONE)
    return view.pixel_at(QPointF(point))


def hover(view, row: float, col: float) -> tuple[float, float]:
    viewport = view.graphics.viewport()
    point = viewport_point(view, row, col)
    send_mouse(viewport, QEvent.Type.MouseMove, point, NONE, NONE)
    return view.pixel_at(QPointF(point))


def centres(pixels: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """View pixel coordinates -> the tools' convention (pixel centres at integers)."""
    return [(r - 0.5, c - 0.5) for r, c in pixels]


NZ, NY, NX = 4, 96, 80
SPACING_YX = (0.7, 0.8)


def disk(shape, cy, cx, r) -> np.ndarray:
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def fake_prediction(session) -> None:
    """Two GGO blobs and one consolidation blob on every slice, with a RoI on the first GGO blob."""
    session.begin_prediction("test-model")
    shape = session.volume.shape[1:]
    labels = np.zeros(shape, np.uint8)
    labels[disk(shape, 30, 25, 6)] = 1
    labels[disk(shape, 70, 55, 5)] = 1
    labels[disk(shape, 45, 60, 5)] = 2
    yy, xx = np.mgrid[:28, :28]
    logits = np.where((yy - 13.5) ** 2 + (xx - 13.5) ** 2 <= 10 ** 2, 4.0, -4.0).astype(np.float16)
    for z in range(session.volume.shape[0]):
        roi = RoI((17.0, 22.0, 33.0, 38.0), 1, 0.9, logits)  # box (x0, y0, x1, y1) around blob 1
        session.add_slice_result(SliceResult(z, [roi], labels.copy(), np.array([0.1, 0.2, 0.7]), {1: 50.0}))


@pytest.fixture
def edit_window(window, tmp_path):
    """The main window on a 4×96×80 HU volume (spacing 0.7 × 0.8 mm) with a fake prediction."""
    volume = make_volume(NZ, NY, NX)
    assert volume.spacing[1:] == SPACING_YX
    assert window.open_path(write_volume(volume, tmp_path / "edit.nii.gz"))
    fake_prediction(window.session)
    window.session.set_slice(1)
    return window
