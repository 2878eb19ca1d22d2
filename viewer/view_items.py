"""Graphics items of a slice view that are cheap to redraw on every slice change.

:class:`TextBadge` draws a short text on a translucent box in the view's own
scene (patient letters, slice / window info), so a slice change repaints the
view once instead of the view plus one styled ``QLabel`` widget per text.
:class:`CTImage` renders a 16-bit integer cut through a 65536-entry table of
opaque RGB32 greys (one lookup per pixel, rebuilt only when the window
changes; the same greys as pyqtgraph's own rescaling), which the raster
painter scales without blending. :class:`OverlayImage` is the label overlay: uint8 labels through a 256-entry
RGBA table become a premultiplied ARGB32 image (the format the raster painter
blends fastest) in a reused buffer; a ``dirty`` rectangle limits the next
repaint to a live edit's region.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter
from PySide6.QtWidgets import QGraphicsItem

_BADGE_BRUSH = QColor(0, 0, 0, 150)


class TextBadge(QGraphicsItem):
    """Text on a translucent black box, placed in scene (= viewport pixel) coordinates.

    Parameters
    ----------
    pixel_size : font size in pixels.
    bold : bold font.
    padding : (horizontal, vertical) space around the text, in pixels.
    radius : corner radius of the box, in pixels (0: square corners).
    color : text colour.
    """

    def __init__(self, pixel_size: int, bold: bool = False, padding: tuple[float, float] = (2.0, 2.0),
                 radius: float = 0.0, color: QColor | None = None) -> None:
        super().__init__()
        self._font = QFont()
        self._font.setPixelSize(pixel_size)
        self._font.setBold(bold)
        self._metrics = QFontMetricsF(self._font)
        self._padding = padding
        self._radius = radius
        self._color = color or QColor(255, 255, 255)
        self._text = ""
        self._rect = QRectF()
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)  # clicks and drags reach the view box
        self.setAcceptHoverEvents(False)
        self.setZValue(1000)

    def text(self) -> str:
        """The text shown."""
        return self._text

    def setText(self, text: str) -> None:  # noqa: N802 - QLabel-like name
        """Show ``text`` (newlines start new lines); only a different text repaints."""
        if text == self._text:
            return
        size = self._metrics.boundingRect(QRectF(0, 0, 10_000, 10_000), 0, text).size() if text else None
        rect = QRectF() if size is None else QRectF(0, 0, size.width() + 2 * self._padding[0],
                                                   size.height() + 2 * self._padding[1])
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = rect
        self._text = text
        self.update()

    def size(self) -> tuple[float, float]:
        """(width, height) of the box in pixels; (0, 0) without text."""
        return self._rect.width(), self._rect.height()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        return self._rect

    def paint(self, painter: QPainter, *_args) -> None:
        if not self._text:
            return
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(_BADGE_BRUSH)
        if self._radius > 0:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            painter.drawRoundedRect(self._rect, self._radius, self._radius)
        else:
            painter.drawRect(self._rect)
        painter.setPen(self._color)
        painter.setFont(self._font)
        painter.drawText(self._rect.adjusted(*self._padding, -self._padding[0], -self._padding[1]),
                         int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop), self._text)


class OverlayImage(pg.ImageItem):
    """The label overlay; a ``dirty`` rectangle (item pixels) limits its next repaint to that region.

    A uint8 label crop with a (256, 4) uint8 RGBA ``lut`` and levels (0, 255) (or none) is
    rendered here as premultiplied ARGB32 through a cached 32-bit table into a buffer reused
    while the crop's shape stays; anything else goes through :class:`pyqtgraph.ImageItem`.
    """

    dirty: QRectF | None = None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._lut_src: np.ndarray | None = None  # the RGBA table _lut32 was made from (kept alive)
        self._lut32 = np.zeros(256, np.uint32)
        self._argb: np.ndarray | None = None

    def update(self, *args) -> None:  # QGraphicsItem.update, called by setImage
        rect, self.dirty = self.dirty, None
        if rect is not None and not args:
            super().update(rect)
        else:
            super().update(*args)

    def render(self) -> None:
        lut, image = self.lut, self.image
        levels = None if self.levels is None else tuple(np.ravel(self.levels))
        fast = (isinstance(lut, np.ndarray) and lut.shape == (256, 4) and lut.dtype == np.uint8
                and image is not None and image.ndim == 2 and image.dtype == np.uint8 and image.size > 0
                and levels in (None, (0, 255)) and self.axisOrder == "row-major" and not self.autoDownsample)
        if not fast:
            self._argb = None
            super().render()
            return
        if lut is not self._lut_src:
            self._lut_src, self._lut32 = lut, premultiplied_table(lut)
        if self._argb is None or self._argb.shape != image.shape:
            self._argb = np.empty(image.shape, np.uint32)
        np.take(self._lut32, image, out=self._argb)
        self.qimage = pg.functions.ndarray_to_qimage(self._argb, QImage.Format.Format_ARGB32_Premultiplied)
        self._renderRequired = False
        self._unrenderable = False


class CTImage(pg.ImageItem):
    """The CT cut. A 2D int16 / uint16 image with levels and no lookup table is drawn as RGB32 greys.

    ``image`` and ``levels`` are pyqtgraph's as usual; any other image goes through
    :class:`pyqtgraph.ImageItem`.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._table_key: tuple | None = None  # (dtype, low, high) the table was made for
        self._table = np.zeros(0, np.uint32)
        self._rgb: np.ndarray | None = None

    def render(self) -> None:
        image, levels = self.image, self.levels
        low_high = None if levels is None or np.ndim(levels) != 1 or np.size(levels) != 2 \
            else tuple(float(v) for v in levels)
        fast = (image is not None and image.ndim == 2 and image.size > 0 and image.dtype in (np.int16, np.uint16)
                and self.lut is None and low_high is not None and low_high[1] > low_high[0]
                and self.axisOrder == "row-major" and not self.autoDownsample)
        if not fast:
            self._rgb = None
            super().render()
            return
        key = (image.dtype.str, *low_high)
        if key != self._table_key:
            self._table_key, self._table = key, grey_table(image.dtype, *low_high)
        if self._rgb is None or self._rgb.shape != image.shape:
            self._rgb = np.empty(image.shape, np.uint32)
        np.take(self._table, image.view(np.uint16), out=self._rgb)
        self.qimage = pg.functions.ndarray_to_qimage(self._rgb, QImage.Format.Format_RGB32)
        self._renderRequired = False
        self._unrenderable = False


def grey_table(dtype: np.dtype, low: float, high: float) -> np.ndarray:
    """(65536,) uint32 opaque RGB32 greys of every 16-bit code of ``dtype`` under the window [low, high].

    Indexed by the raw 16 bits (``image.view(np.uint16)``). The grey of a value v is
    ``trunc(clip((v - low) * 255 / (high - low), 0, 255))`` computed in float32, as
    :func:`pyqtgraph.functions.makeARGB` does, so the pixels equal pyqtgraph's.
    """
    values = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.dtype(dtype)).astype(np.float32)
    values -= low
    values *= 255.0 / (high - low)
    np.clip(values, 0, 255, out=values)
    grey = values.astype(np.uint8).astype(np.uint32)
    return np.uint32(0xFF000000) | (grey << 16) | (grey << 8) | grey


def premultiplied_table(lut: np.ndarray) -> np.ndarray:
    """(256,) uint32 premultiplied ARGB32 values of a (256, 4) uint8 RGBA table."""
    rgba = lut.astype(np.uint32)
    alpha = rgba[:, 3]
    rgb = (rgba[:, :3] * alpha[:, None] + 127) // 255
    return (alpha << 24) | (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
