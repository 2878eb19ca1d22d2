"""A pyqtgraph ViewBox with the viewer's mouse rules.

Left-drag pans, Ctrl+wheel zooms, the wheel alone steps slices, a left click
places the crosshair and right-drag changes the window (horizontal = width,
vertical = level). The box only reports intents; it changes nothing itself
except its own pan and zoom.
"""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal


class PlaneViewBox(pg.ViewBox):
    """ViewBox emitting intents for wheel, click and right-drag."""

    wheelStepped = Signal(int)  # +1 / -1 slices
    clicked = Signal(object)  # QPointF in view (mm) coordinates
    windowDragStarted = Signal()
    windowDragged = Signal(float, float)  # dx, dy screen pixels since the drag started

    def __init__(self) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self.setMouseMode(pg.ViewBox.PanMode)

    def wheelEvent(self, ev, axis=None) -> None:  # noqa: N802 - Qt override
        if ev.modifiers() & Qt.KeyboardModifier.ControlModifier:
            super().wheelEvent(ev, axis)
            return
        delta = ev.delta() if hasattr(ev, "delta") else ev.angleDelta().y()
        if delta:
            self.wheelStepped.emit(1 if delta > 0 else -1)
        ev.accept()

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 - Qt override
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.clicked.emit(self.mapSceneToView(ev.scenePos()))
            return
        super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802 - Qt override
        if ev.button() != Qt.MouseButton.RightButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        if ev.isStart():
            self.windowDragStarted.emit()
        moved: QPointF = ev.screenPos() - ev.buttonDownScreenPos()
        self.windowDragged.emit(float(moved.x()), float(moved.y()))
