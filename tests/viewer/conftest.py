"""Small volumes and helpers for the viewer tests."""
from __future__ import annotations

import numpy as np
import pytest

import viewer  # noqa: F401 - applies the PySide6 reference-leak guard before any Qt call
from core_models.volume import CTVolume, Geometry


def make_volume(nz: int = 6, ny: int = 48, nx: int = 40, is_hu: bool = True, seed: int = 0) -> CTVolume:
    """A small CT-like volume: air outside, a soft-tissue body, darker 'lungs'."""
    rng = np.random.default_rng(seed)
    if not is_hu:
        arr = rng.integers(0, 256, (nz, ny, nx)).astype(np.int16)
        return CTVolume(arr, Geometry((1.0, 1.0, 1.0)), modality="OT", is_hu=False, source="synthetic 8-bit")
    arr = np.full((nz, ny, nx), -1000, np.int16)
    arr[:, 4:-4, 3:-3] = 40
    arr[:, 10:-10, 6:nx // 2 - 2] = -850
    arr[:, 10:-10, nx // 2 + 2:-6] = -850
    arr += rng.integers(-20, 20, arr.shape).astype(np.int16)
    return CTVolume(arr, Geometry((2.5, 0.7, 0.8), (-10.0, -20.0, 100.0)), source="synthetic")


@pytest.fixture
def small_volume() -> CTVolume:
    return make_volume()


@pytest.fixture
def nifti_path(tmp_path, small_volume):
    from core_models.io import write_volume

    return write_volume(small_volume, tmp_path / "small.nii.gz")


@pytest.fixture
def window(qtbot, monkeypatch):
    """A main window whose error dialogs are recorded instead of shown."""
    from PySide6.QtWidgets import QMessageBox

    from viewer.main_window import MainWindow

    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text, *a, **k: shown.append(text))
    win = MainWindow()
    win.errors_shown = shown
    qtbot.addWidget(win)
    win.resize(900, 600)
    win.show()
    yield win
    win.inference.supersede()
    win.inference.runner.wait(10000)


def send_mouse(widget, kind, pos, button, buttons):
    """Send one mouse event (QTest cannot hold buttons during a move)."""
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication
    from PySide6.QtCore import Qt

    local = QPointF(pos)
    event = QMouseEvent(kind, local, QPointF(widget.mapToGlobal(pos)), button, buttons,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def send_wheel(widget, steps: int):
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    centre = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(centre, QPointF(widget.mapToGlobal(centre.toPoint())), QPoint(0, 0),
                        QPoint(0, 120 * steps), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)
