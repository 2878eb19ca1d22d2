"""One plane of the volume (axial, coronal or sagittal) with its overlay.

The view renders the :class:`~viewer.session.ReviewSession`'s state and
emits intents (``sliceChangeRequested``, ``positionRequested``,
``windowDragged``...); it never changes the session itself. Pixels are drawn
in millimetres (from the spacing), so the aspect ratio is right; patient
directions are written at the edges.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QGraphicsView, QSlider, QVBoxLayout, QWidget

from viewer.overlays import OverlayStyle, label_lut, outline
from viewer.plane_viewbox import PlaneViewBox
from viewer.planes import Plane, make_plane
from viewer.session import ReviewSession
from viewer.view_items import CTImage, OverlayImage, TextBadge

__all__ = ["OverlayImage", "SliceView", "overlay_rgba", "voxel_with_index"]

_KEY_STEPS = {Qt.Key.Key_Up: 1, Qt.Key.Key_Right: 1, Qt.Key.Key_Down: -1, Qt.Key.Key_Left: -1,
              Qt.Key.Key_PageUp: 10, Qt.Key.Key_PageDown: -10}
_PRESET_KEYS = {Qt.Key.Key_1: 1, Qt.Key.Key_2: 2, Qt.Key.Key_3: 3, Qt.Key.Key_4: 4}
_LETTER_STYLE = {"pixel_size": 13, "bold": True, "padding": (3.0, 1.0), "radius": 3.0}
_INFO_STYLE = {"pixel_size": 11, "padding": (2.0, 2.0), "color": QColor(240, 240, 240)}
#: viewport mouse events offered to an edit handler (see SliceView.set_mouse_handler)
_MOUSE_KINDS = {QEvent.Type.MouseButtonPress: "press", QEvent.Type.MouseMove: "move",
                QEvent.Type.MouseButtonRelease: "release", QEvent.Type.MouseButtonDblClick: "double",
                QEvent.Type.Leave: "leave"}


class SliceView(QWidget):
    """A passive view of one plane through the session's position."""

    sliceChangeRequested = Signal(int)  # absolute index along this view's axis
    positionRequested = Signal(object)  # voxel (z, y, x)
    cursorMoved = Signal(object)  # voxel (z, y, x) under the mouse, or None
    windowDragStarted = Signal()
    windowDragged = Signal(float, float)
    presetRequested = Signal(int)

    def __init__(self, session: ReviewSession, plane: str = "axial", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.plane_name = plane
        self.plane: Plane = make_plane(plane, _identity_geometry())
        self.style_ = OverlayStyle()
        self._lut = label_lut(self.style_)
        self._box_items: list[QGraphicsRectItem] = []
        self._shown_index: int | None = None
        self._overlay_window: tuple[int, int, int, int] | None = None
        self._image_geometry: tuple[tuple[int, ...], QRectF] | None = None
        self.mouse_handler = None  # edit controller (viewer.editing), see set_mouse_handler
        self._build()
        self._connect()
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    # -- construction ----------------------------------------------------------------------
    def _build(self) -> None:
        self.graphics = pg.GraphicsView(background="k")
        # one simple clip rectangle per repaint (the slice and its info text; a brush's small box),
        # not the exact union of the dirty rectangles, which makes the raster painter clip per span
        self.graphics.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.BoundingRectViewportUpdate)
        self.viewbox = PlaneViewBox()
        self.graphics.setCentralItem(self.viewbox)
        self.image = CTImage(axisOrder="row-major")
        self.overlay = OverlayImage(axisOrder="row-major")
        self.overlay.setZValue(10)
        self.viewbox.addItem(self.image)
        self.viewbox.addItem(self.overlay)
        pen = pg.mkPen((80, 200, 255, 160), width=1)
        self.cross_v = pg.InfiniteLine(angle=90, movable=False, pen=pen)
        self.cross_h = pg.InfiniteLine(angle=0, movable=False, pen=pen)
        for line in (self.cross_v, self.cross_h):
            line.setZValue(20)
            line.setVisible(False)
            self.viewbox.addItem(line, ignoreBounds=True)
        self.letters = {edge: self._label(_LETTER_STYLE) for edge in ("left", "right", "top", "bottom")}
        self.info = self._label(_INFO_STYLE)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setEnabled(False)
        self.slider.setAutoFillBackground(True)  # opaque: a slice change repaints it, not the window beneath
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.slider)

    def _label(self, style: dict) -> TextBadge:
        """A text drawn in the view's scene (scene coordinates are viewport pixels): one repaint per change."""
        badge = TextBadge(**style)
        self.graphics.scene().addItem(badge)
        return badge

    def _connect(self) -> None:
        s = self.session
        s.volumeChanged.connect(self.reset)
        s.positionChanged.connect(self._on_position)
        s.windowChanged.connect(self.refresh_window)
        s.labelsChanged.connect(self._on_labels_changed)
        s.predictionChanged.connect(self.refresh_overlay)
        self.slider.valueChanged.connect(self._on_slider)
        self.viewbox.wheelStepped.connect(lambda step: self.sliceChangeRequested.emit(self.index + step))
        self.viewbox.clicked.connect(self._on_click)
        self.viewbox.windowDragStarted.connect(self.windowDragStarted)
        self.viewbox.windowDragged.connect(self.windowDragged)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)

    # -- state -----------------------------------------------------------------------------
    @property
    def index(self) -> int:
        """Index of the shown cut along this view's fixed axis."""
        return int(self.session.position[self.plane.fixed])

    @property
    def n_index(self) -> int:
        return self.session.volume.shape[self.plane.fixed] if self.session.volume is not None else 0

    def set_overlay_style(self, style: OverlayStyle) -> None:
        """Use ``style`` for the labels and redraw them."""
        self.style_ = style
        self._lut = label_lut(style)
        self.refresh_overlay()

    def set_crosshair_visible(self, visible: bool) -> None:
        for line in (self.cross_v, self.cross_h):
            line.setVisible(visible)
        self.refresh_crosshair()

    # -- rendering -------------------------------------------------------------------------
    def reset(self) -> None:
        """New volume: plane geometry, pixel size in mm, letters, slider, fit to view."""
        volume = self.session.volume
        if volume is None:
            return
        self.plane = make_plane(self.plane_name, volume.geometry)
        row_mm, col_mm = self.plane.pixel_mm(volume.spacing)
        nrows, ncols = volume.shape[self.plane.rows], volume.shape[self.plane.cols]
        self._rect = QRectF(0.0, 0.0, ncols * col_mm, nrows * row_mm)
        self._pixel_mm = (row_mm, col_mm)
        for edge, letter in self.plane.edge_letters(volume.geometry).items():
            self.letters[edge].setText(letter)
        self._image_geometry = None  # (cut shape, rect) last given to the CT item
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(self.n_index - 1, 0))
        self.slider.setEnabled(self.n_index > 1)
        self.slider.blockSignals(False)
        self.refresh()
        self.fit()
        QTimer.singleShot(0, self.fit)  # again once the layout has settled

    def fit(self) -> None:
        """Show the whole plane."""
        if self.session.volume is not None:
            self.viewbox.autoRange(padding=0.0)
        self._place_labels()

    def _on_position(self, _position: object) -> None:
        """Redraw the cut only when this view's index changed (else just the crosshair)."""
        if self.index == self._shown_index:
            self.refresh_crosshair()
        else:
            self.refresh()

    def refresh(self) -> None:
        """Redraw the CT cut, its overlay, crosshair, slider and info text (hidden views wait)."""
        volume = self.session.volume
        if volume is None:
            return
        if not self.isVisible():
            self._shown_index = None
            return
        self._shown_index = self.index
        cut = self.plane.extract(volume.array, self.index)
        self.image.setImage(cut, levels=self.session.window.levels, autoLevels=False)
        if self._image_geometry != (cut.shape, self._rect):  # same plane, same place: no transform change
            self._image_geometry = (cut.shape, QRectF(self._rect))
            self.image.setRect(self._rect)
        self.refresh_overlay()
        self.refresh_crosshair()
        self.slider.blockSignals(True)
        self.slider.setValue(self.index)
        self.slider.blockSignals(False)
        self._update_info()

    def refresh_window(self) -> None:
        if self.session.volume is not None:
            self.image.setLevels(self.session.window.levels)
            self._update_info()

    def refresh_overlay(self, changed: tuple[int, ...] | None = None) -> None:
        """Redraw the labels; ``changed`` (a bbox) lets an unchanged window repaint only that region."""
        if not self.isVisible():
            self._shown_index = None  # redrawn when shown again
            return
        labels = self.session.labels(self.style_.source)
        if labels is None or self.session.volume is None:
            self.overlay.clear()
            self._overlay_window = None
            return
        cut = self.plane.extract(labels.array, self.index)
        window = _nonzero_window(cut)
        if changed is not None and window is not None and window == self._overlay_window and self.plane.fixed == 0:
            y0, y1, x0, x1 = changed[2:]  # a live edit inside the drawn window: repaint just its box
            self.overlay.dirty = QRectF(x0 - window[2] - 1, y0 - window[0] - 1, x1 - x0 + 2, y1 - y0 + 2)
        self._overlay_window = window
        if window is None:  # nothing to draw: skip the blend entirely
            self.overlay.setVisible(False)
            return
        r0, r1, c0, c1 = window
        crop = cut[r0:r1, c0:c1]
        if self.style_.outline:
            crop = outline(crop)
        # only the labels' bounding box is blended; uint8 labels go through a 256-entry RGBA table
        self.overlay.setImage(np.ascontiguousarray(crop), lut=self._lut, levels=(0, 255), autoLevels=False)
        row_mm, col_mm = self._pixel_mm
        self.overlay.setRect(QRectF(c0 * col_mm, r0 * row_mm, (c1 - c0) * col_mm, (r1 - r0) * row_mm))
        self.overlay.setVisible(True)

    def _on_labels_changed(self, bbox: tuple[int, ...]) -> None:
        lo, hi = bbox[2 * self.plane.fixed], bbox[2 * self.plane.fixed + 1]
        if lo <= self.index < hi:
            self.refresh_overlay(bbox)

    def refresh_crosshair(self) -> None:
        if self.session.volume is None or not self.cross_v.isVisible():
            return
        row, col = self.plane.to_plane(self.session.position, self.session.volume.shape)
        self.cross_v.setPos((col + 0.5) * self._pixel_mm[1])
        self.cross_h.setPos((row + 0.5) * self._pixel_mm[0])

    def _update_info(self) -> None:
        volume = self.session.volume
        w = self.session.window
        unit = "HU" if volume.is_hu else ""
        text = f"{self.plane_name} {self.index + 1}/{self.n_index}"
        if self.plane.fixed == 0:
            z_mm = volume.geometry.index_to_physical(self.index, 0, 0)[2]
            text += f"   z = {z_mm:.1f} mm"
        text += f"\nW {w.width:.0f} / L {w.level:.0f} {unit}"
        width = self.info.size()[0]
        self.info.setText(text)
        if self.info.size()[0] != width:  # the top letter may have to step below it
            self._place_labels()

    def set_boxes(self, boxes: list[tuple[tuple[float, float, float, float], tuple[int, int, int], bool]]) -> None:
        """Draw RoI boxes: ((x0, y0, x1, y1) pixels, RGB colour, selected); items are reused."""
        if self.session.volume is None:
            boxes = []
        while len(self._box_items) < len(boxes):
            item = QGraphicsRectItem()
            self.viewbox.addItem(item, ignoreBounds=True)
            self._box_items.append(item)
        row_mm, col_mm = getattr(self, "_pixel_mm", (1.0, 1.0))
        for item, ((x0, y0, x1, y1), color, selected) in zip(self._box_items, boxes):
            item.setRect(x0 * col_mm, y0 * row_mm, (x1 - x0) * col_mm, (y1 - y0) * row_mm)
            item.setPen(_box_pen(color, selected))
            item.setZValue(30 if selected else 25)
            item.setVisible(True)
        for item in self._box_items[len(boxes):]:
            item.setVisible(False)

    def shown_boxes(self) -> list[QGraphicsRectItem]:
        """The RoI box items on screen."""
        return [item for item in self._box_items if item.isVisible()]

    # -- events ----------------------------------------------------------------------------
    def _voxel_at(self, point) -> tuple[int, int, int] | None:
        volume = self.session.volume
        if volume is None:
            return None
        row, col = point.y() / self._pixel_mm[0], point.x() / self._pixel_mm[1]
        nrows, ncols = volume.shape[self.plane.rows], volume.shape[self.plane.cols]
        if not (0 <= row < nrows and 0 <= col < ncols):
            return None
        return self.plane.to_voxel(self.index, row, col, volume.shape)

    def _on_click(self, point) -> None:
        voxel = self._voxel_at(point)
        if voxel is not None:
            self.positionRequested.emit(voxel)

    def _on_mouse_moved(self, scene_pos) -> None:
        self.cursorMoved.emit(self._voxel_at(self.viewbox.mapSceneToView(scene_pos)))

    def _on_slider(self, value: int) -> None:
        self.sliceChangeRequested.emit(int(value))

    def event(self, event: QEvent) -> bool:
        """Keep Esc / Enter for an edit in progress (a polygon) ahead of window shortcuts (Cancel)."""
        if event.type() == QEvent.Type.ShortcutOverride and self.mouse_handler is not None:
            wants = getattr(self.mouse_handler, "wants_key", None)
            if wants is not None and wants(self, event.key()):
                event.accept()
                return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt override
        key = event.key()
        if self.mouse_handler is not None and self.mouse_handler.view_key_event(self, key):
            return
        if key in _KEY_STEPS:
            self.sliceChangeRequested.emit(self.index + _KEY_STEPS[key])
        elif key in _PRESET_KEYS:
            self.presetRequested.emit(_PRESET_KEYS[key])
        else:
            super().keyPressEvent(event)

    # -- edit hooks ------------------------------------------------------------------------
    def set_mouse_handler(self, handler) -> None:
        """Offer viewport mouse events and key presses to ``handler`` (``None``: plain viewing).

        The handler has ``view_mouse_event(view, kind, pixel, event) -> bool`` (``kind`` one of
        press, move, release, double, leave; ``pixel`` the (row, col) plane pixel under the mouse
        as floats, pixel ``i`` covering [i, i + 1)) and ``view_key_event(view, key) -> bool``;
        True consumes the event (no pan, click or crosshair).
        """
        viewport = self.graphics.viewport()
        viewport.removeEventFilter(self)
        self.mouse_handler = handler
        if handler is not None:
            viewport.installEventFilter(self)
            viewport.setMouseTracking(True)

    def pixel_at(self, viewport_pos) -> tuple[float, float]:
        """(row, col) plane pixel coordinates (float) under a viewport position."""
        point = self.viewbox.mapSceneToView(self.graphics.mapToScene(viewport_pos.toPoint()))
        row_mm, col_mm = getattr(self, "_pixel_mm", (1.0, 1.0))
        return point.y() / row_mm, point.x() / col_mm

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        kind = _MOUSE_KINDS.get(event.type())
        if kind is None or self.mouse_handler is None or self.session.volume is None:
            return super().eventFilter(obj, event)
        pixel = self.pixel_at(event.position()) if kind != "leave" else (float("nan"), float("nan"))
        return bool(self.mouse_handler.view_mouse_event(self, kind, pixel, event))

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._shown_index != self.index:
            self.refresh()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._place_labels()

    def _place_labels(self) -> None:
        w, h = self.graphics.width(), self.graphics.height()
        size = {e: lab.size() for e, lab in self.letters.items()}  # (width, height) px
        pos = {"left": (4, (h - size["left"][1]) // 2),
               "right": (w - size["right"][0] - 4, (h - size["right"][1]) // 2),
               "top": ((w - size["top"][0]) // 2, 4),
               "bottom": ((w - size["bottom"][0]) // 2, h - size["bottom"][1] - 4)}
        info_w, info_h = self.info.size()
        if pos["top"][0] < 6 + info_w + 4:  # narrow view: keep the letter clear of the info text
            pos["top"] = (pos["top"][0], 8 + info_h)
        for edge, (x, y) in pos.items():
            self.letters[edge].setPos(round(x), round(y))
        self.info.setPos(6, 4)


def _box_pen(color: tuple[int, int, int], selected: bool) -> QPen:
    pen = QPen(QColor(*color, 255 if selected else 150))
    pen.setWidthF(2.5 if selected else 1.0)
    pen.setCosmetic(True)
    pen.setStyle(Qt.PenStyle.SolidLine if selected else Qt.PenStyle.DashLine)
    return pen


def _nonzero_window(labels: np.ndarray) -> tuple[int, int, int, int] | None:
    """(r0, r1, c0, c1) bounding the non-zero pixels (one pixel of margin for outlines), or None."""
    rows = np.flatnonzero(labels.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(labels.any(axis=0))
    h, w = labels.shape
    return max(rows[0] - 1, 0), min(rows[-1] + 2, h), max(cols[0] - 1, 0), min(cols[-1] + 2, w)


def overlay_rgba(view: SliceView) -> np.ndarray | None:
    """The overlay as drawn, on the whole plane: (H, W, 4) RGBA (for tests and checks)."""
    volume = view.session.volume
    if volume is None or view.session.labels(view.style_.source) is None:
        return None
    shape = (volume.shape[view.plane.rows], volume.shape[view.plane.cols], 4)
    out = np.zeros(shape, np.uint8)
    if view._overlay_window is not None and view.overlay.isVisible():
        r0, r1, c0, c1 = view._overlay_window
        out[r0:r1, c0:c1] = view._lut[view.overlay.image]
    return out


def _identity_geometry():
    from core_models.volume import Geometry

    return Geometry()


def voxel_with_index(plane: Plane, position: tuple[int, int, int], index: int) -> tuple[int, int, int]:
    """``position`` with this plane's fixed axis set to ``index``."""
    voxel = list(position)
    voxel[plane.fixed] = int(index)
    return int(voxel[0]), int(voxel[1]), int(voxel[2])
