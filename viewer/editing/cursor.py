"""Edit cursors: the brush circle (its size in mm, following the mouse) and the polygon drawn.

Views draw in millimetres (pixel size from the spacing), so a disk of radius
``r`` mm is a circle of radius ``r`` in view coordinates; on anisotropic
pixels it covers the same ellipse of pixels as the brush footprint.
"""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsPathItem


def _set_up_tool_item(item, color: QColor, style: Qt.PenStyle) -> None:
    """A hidden overlay drawn above labels and boxes with a 1.5-screen-px cosmetic pen; clicks pass through."""
    pen = QPen(color)
    pen.setCosmetic(True)
    pen.setWidthF(1.5)
    pen.setStyle(style)
    item.setPen(pen)
    item.setZValue(40)
    item.setVisible(False)
    item.setAcceptedMouseButtons(Qt.MouseButton.NoButton)


class BrushCursor(QGraphicsEllipseItem):
    """The brush outline, drawn above labels and boxes (cosmetic pen: 1.5 screen px)."""

    def __init__(self) -> None:
        super().__init__()
        _set_up_tool_item(self, QColor(255, 255, 255, 220), Qt.PenStyle.SolidLine)
        self.radius_mm = 0.0

    def set_color(self, rgb: tuple[int, int, int]) -> None:
        """Outline colour (the active label's; white for the eraser)."""
        pen = self.pen()
        pen.setColor(QColor(*rgb, 230))
        self.setPen(pen)

    def place(self, centre_mm: tuple[float, float], radius_mm: float) -> None:
        """Show the circle of ``radius_mm`` at ``centre_mm`` = (x, y) view millimetres."""
        x, y = centre_mm
        self.radius_mm = float(radius_mm)
        self.setRect(QRectF(x - radius_mm, y - radius_mm, 2 * radius_mm, 2 * radius_mm))
        self.setVisible(True)

    def centre_mm(self) -> tuple[float, float]:
        """(x, y) of the circle's centre in view millimetres."""
        rect = self.rect()
        return rect.center().x(), rect.center().y()


class PolygonPreview(QGraphicsPathItem):
    """The polygon being drawn: its vertices joined, plus a rubber band to the mouse."""

    def __init__(self) -> None:
        super().__init__()
        _set_up_tool_item(self, QColor(255, 255, 0, 230), Qt.PenStyle.DashLine)

    def show_points(self, points_mm: list[tuple[float, float]]) -> None:
        """Draw the open path through ``points_mm`` = [(x, y) view mm]; hidden when empty."""
        if not points_mm:
            self.setVisible(False)
            return
        path = QPainterPath(QPointF(*points_mm[0]))
        for x, y in points_mm[1:]:
            path.lineTo(x, y)
        self.setPath(path)
        self.setVisible(True)
