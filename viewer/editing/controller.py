"""``EditController``: the tool state, and axial-view mouse gestures turned into label edits.

The controller is the axial view's mouse handler (``SliceView.set_mouse_handler``).
With the navigate tool it lets every event through (pan, click, window). With an
editing tool a left press/drag/release edits ``session.corrected`` on the shown
slice; right-drag stays window/level and hover keeps the HU read-out. Every edit
goes through ``session.apply_edit`` (one undo step each); a brush drag paints
live and is committed on release as one step.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal

from core_models.editing.tools import HU_PRESETS, flood_fill_mask, island_mask, paint_edit, polygon_mask, roi_mask
from core_models.labels import default_label_table
from viewer.editing.cursor import BrushCursor, PolygonPreview
from viewer.editing.stroke import BrushStroke
from viewer.session import ReviewSession
from viewer.slice_view import SliceView

TOOLS = ("navigate", "brush", "eraser", "hu_brush", "fill", "polygon", "islands")
BRUSH_TOOLS = ("brush", "eraser", "hu_brush")
FILL_MODES = ("label", "range")
SIZE_LIMITS_MM = (0.5, 100.0)
_LEFT = Qt.MouseButton.LeftButton


@dataclass(frozen=True)
class ToolState:
    """What a gesture does.

    Attributes
    ----------
    tool : one of :data:`TOOLS`.
    label : label painted by brush, HU brush, fill and polygon (1 GGO, 2 consolidation).
    size_mm : brush and eraser diameter in mm.
    value_range : (min, max) CT values of the HU brush and the range fill (HU; grey on 8-bit).
    preset : ``ggo``, ``consolidation`` or ``custom`` (which range is in :attr:`value_range`).
    erase_only_active : the eraser removes only :attr:`label` (default: any label).
    fill_mode : ``label`` (bounded by the current label) or ``range`` (bounded by the range).
    """

    tool: str = "navigate"
    label: int = 1
    size_mm: float = 6.0
    value_range: tuple[float, float] = HU_PRESETS["ggo"]
    preset: str = "ggo"
    erase_only_active: bool = False
    fill_mode: str = "label"


class EditController(QObject):
    """Owns the :class:`ToolState` and turns the axial view's gestures into edits."""

    stateChanged = Signal(object)  # ToolState
    editStarted = Signal()  # an edit is about to change the corrected labels (show them)
    message = Signal(str)  # one-line feedback for the status bar

    def __init__(self, session: ReviewSession, view: SliceView, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.view = view
        self.state = ToolState()
        self.stroke: BrushStroke | None = None
        self.polygon: list[tuple[float, float]] = []  # vertices, (y, x) pixel centres
        self._colors = {lab.value: lab.color for lab in default_label_table().foreground()}
        self.cursor = BrushCursor()
        self.preview = PolygonPreview()
        view.viewbox.addItem(self.cursor, ignoreBounds=True)
        view.viewbox.addItem(self.preview, ignoreBounds=True)
        view.set_mouse_handler(self)
        session.sliceChanged.connect(lambda _z: self.interrupt())
        session.volumeChanged.connect(self.interrupt)
        self._style_cursor()

    # -- state -------------------------------------------------------------------------------
    def _set(self, **changes) -> None:
        new = replace(self.state, **changes)
        if new != self.state:
            self.state = new
            self._style_cursor()
            self.stateChanged.emit(new)

    def set_tool(self, tool: str) -> None:
        """Switch tool (ends a drag, drops an unfinished polygon)."""
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}; use one of {TOOLS}")
        self.interrupt()
        self._set(tool=tool)
        if tool not in BRUSH_TOOLS:
            self.cursor.setVisible(False)

    def set_label(self, value: int) -> None:
        """Active label (1 GGO, 2 consolidation)."""
        if value not in self._colors:
            raise ValueError(f"unknown label value {value}")
        self._set(label=int(value))

    def set_size_mm(self, size_mm: float) -> None:
        """Brush diameter in mm (clamped to 0.5-100 mm)."""
        lo, hi = SIZE_LIMITS_MM
        self._set(size_mm=float(min(max(round(size_mm * 2) / 2, lo), hi)))
        if self.cursor.isVisible():
            self.cursor.place(self.cursor.centre_mm(), self.state.size_mm / 2)

    def step_size(self, steps: int) -> None:
        """Grow (+) or shrink (-) the brush by about 20 % per step (keys ] and [)."""
        self.set_size_mm(self.state.size_mm * (1.25 ** steps) if steps > 0 else self.state.size_mm / (1.25 ** -steps))

    def set_range(self, lo: float, hi: float, preset: str = "custom") -> None:
        """HU (grey) range of the HU brush and the range fill; ``preset`` names where it came from."""
        lo, hi = float(min(lo, hi)), float(max(lo, hi))
        self._set(value_range=(lo, hi), preset=preset)

    def set_preset(self, name: str) -> None:
        """Use ``HU_PRESETS[name]`` (``ggo`` or ``consolidation``); ``custom`` keeps the range."""
        if name in HU_PRESETS:
            self.set_range(*HU_PRESETS[name], preset=name)
        else:
            self._set(preset="custom")

    def set_erase_only_active(self, on: bool) -> None:
        self._set(erase_only_active=bool(on))

    def set_fill_mode(self, mode: str) -> None:
        if mode not in FILL_MODES:
            raise ValueError(f"unknown fill mode {mode!r}; use one of {FILL_MODES}")
        self._set(fill_mode=mode)

    def _style_cursor(self) -> None:
        self.cursor.set_color((255, 255, 255) if self.state.tool == "eraser" else self._colors[self.state.label])

    # -- mouse (SliceView handler protocol) ----------------------------------------------------
    def view_mouse_event(self, view: SliceView, kind: str, pixel: tuple[float, float], event) -> bool:
        """Handle one viewport event of ``view``; True when it was an edit gesture (consumed)."""
        if view is not self.view:
            return False
        if kind == "leave":
            self.cursor.setVisible(False)
            return False
        tool = self.state.tool
        self._hover(pixel)
        if kind == "move":
            if self.stroke is not None:
                self._stroke_to(pixel)
                return True
            return False
        if tool == "navigate" or event.button() != _LEFT:
            return False
        if kind == "release":
            self.finish_stroke()
        elif kind == "double" and tool == "polygon":
            self.close_polygon()
        else:  # press, or a double-click acting as a second press
            self._press(pixel)
        return True

    def wants_key(self, view: SliceView, key: int) -> bool:
        """True for keys an edit in progress needs before any window shortcut (Esc, Enter on a polygon)."""
        keys = (Qt.Key.Key_Escape, Qt.Key.Key_Return, Qt.Key.Key_Enter)
        return view is self.view and bool(self.polygon) and key in keys

    def view_key_event(self, view: SliceView, key: int) -> bool:
        """Esc cancels a polygon, then leaves editing; Enter closes a polygon."""
        if view is not self.view:
            return False
        if key == Qt.Key.Key_Escape:
            if self.polygon:
                self.cancel_polygon()
                return True
            if self.state.tool != "navigate":
                self.set_tool("navigate")
                return True
            return False
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.polygon:
            self.close_polygon()
            return True
        return False

    def _hover(self, pixel: tuple[float, float]) -> None:
        row_mm, col_mm = getattr(self.view, "_pixel_mm", (1.0, 1.0))
        if self.state.tool in BRUSH_TOOLS and self.session.volume is not None:
            self.cursor.place((pixel[1] * col_mm, pixel[0] * row_mm), self.state.size_mm / 2)
        if self.polygon:
            self._show_polygon(pixel)

    def _press(self, pixel: tuple[float, float]) -> None:
        tool = self.state.tool
        if tool in BRUSH_TOOLS:
            self.begin_stroke(pixel)
        elif tool == "fill":
            self.fill_at(pixel)
        elif tool == "polygon":
            self.add_polygon_vertex(pixel)
        elif tool == "islands":
            self.remove_island_at(pixel)

    # -- brush and eraser ----------------------------------------------------------------------
    def begin_stroke(self, pixel: tuple[float, float]) -> None:
        """Start a drag at view pixel ``pixel`` = (row, col) (pixel i covers [i, i + 1))."""
        self.finish_stroke()
        labels = self.session.editable_labels()
        if labels is None:
            return
        self.editStarted.emit()
        z, s = self.session.current_slice, self.state
        volume = self.session.volume
        limited = s.tool == "hu_brush"
        self.stroke = BrushStroke(
            labels.array, z, s.size_mm / 2, tuple(volume.spacing[1:]), 0 if s.tool == "eraser" else s.label,
            ct_slice=volume.array[z] if limited else None, value_range=s.value_range if limited else None,
            only_label=s.label if s.tool == "eraser" and s.erase_only_active else None)
        self._stroke_to(pixel)

    def _stroke_to(self, pixel: tuple[float, float]) -> None:
        box = self.stroke.add((pixel[0] - 0.5, pixel[1] - 0.5))
        if box is not None:
            z = self.stroke.z
            self.session.labelsChanged.emit((z, z + 1, *box))

    def finish_stroke(self) -> bool:
        """Commit the drag in progress as one undo step; False when there was none or it changed nothing."""
        stroke, self.stroke = self.stroke, None
        if stroke is None:
            return False
        text = {"brush": "brush stroke", "eraser": "eraser stroke", "hu_brush": "HU brush stroke"}[self.state.tool] \
            if self.state.tool in BRUSH_TOOLS else "stroke"
        return self.session.apply_edit(stroke.finish(), already_applied=True, text=text)

    def interrupt(self) -> None:
        """Slice, volume or tool changes: commit a drag, drop an unfinished polygon."""
        self.finish_stroke()
        self.cancel_polygon()

    # -- click tools ---------------------------------------------------------------------------
    def _paint(self, found, value: int, text: str) -> bool:
        labels = self.session.editable_labels()
        if found is None or labels is None:
            return False
        self.editStarted.emit()
        mask, offset = found
        edit = paint_edit(labels.array, self.session.current_slice, mask, offset, value)
        return self.session.apply_edit(edit, text=text)

    def _slice_arrays(self) -> tuple[np.ndarray, np.ndarray] | None:
        labels = self.session.editable_labels()
        if labels is None:
            return None
        z = self.session.current_slice
        return labels.array[z], self.session.volume.array[z]

    def fill_at(self, pixel: tuple[float, float]) -> bool:
        """Fill the region around ``pixel`` with the active label (bounded by label or range)."""
        arrays = self._slice_arrays()
        if arrays is None:
            return False
        labels2d, ct2d = arrays
        seed = (pixel[0] - 0.5, pixel[1] - 0.5)
        by_range = self.state.fill_mode == "range"
        found = flood_fill_mask(labels2d, seed, ct2d=ct2d if by_range else None,
                                value_range=self.state.value_range if by_range else None)
        if found is None and by_range:
            self.message.emit("fill: the clicked pixel lies outside the value range")
        return self._paint(found, self.state.label, "fill")

    def remove_island_at(self, pixel: tuple[float, float]) -> bool:
        """Delete the connected lesion component under ``pixel`` (Slicer's islands)."""
        arrays = self._slice_arrays()
        if arrays is None:
            return False
        return self._paint(island_mask(arrays[0], (pixel[0] - 0.5, pixel[1] - 0.5)), 0, "remove island")

    # -- polygon -------------------------------------------------------------------------------
    def add_polygon_vertex(self, pixel: tuple[float, float]) -> None:
        self.polygon.append((pixel[0] - 0.5, pixel[1] - 0.5))
        self._show_polygon(None)

    def close_polygon(self) -> bool:
        """Fill the polygon drawn so far with the active label (needs three vertices)."""
        vertices, self.polygon = self.polygon, []
        self.preview.show_points([])
        if len(vertices) < 3 or self.session.volume is None:
            return False
        return self._paint(polygon_mask(self.session.volume.shape[1:], vertices), self.state.label, "polygon")

    def cancel_polygon(self) -> None:
        self.polygon = []
        self.preview.show_points([])

    def _show_polygon(self, mouse: tuple[float, float] | None) -> None:
        row_mm, col_mm = getattr(self.view, "_pixel_mm", (1.0, 1.0))
        points = [((x + 0.5) * col_mm, (y + 0.5) * row_mm) for y, x in self.polygon]
        if mouse is not None:
            points.append((mouse[1] * col_mm, mouse[0] * row_mm))
        if len(self.polygon) >= 2:
            points.append(points[0])
        self.preview.show_points(points)

    # -- RoIs ----------------------------------------------------------------------------------
    def _roi(self, index: int | None):
        result = self.session.slice_result()
        if index is None or result is None or not 0 <= index < len(result.rois):
            return None
        return result.rois[index]

    def reject_roi(self, index: int | None) -> bool:
        """Remove RoI ``index``'s pixels of its label from the current slice (one undo step)."""
        roi = self._roi(index)
        arrays = self._slice_arrays() if roi is not None else None
        if arrays is None:
            return False
        done = self._paint(roi_mask(arrays[0], roi), 0, f"reject RoI #{index}")
        self.message.emit(f"RoI #{index} rejected" if done else f"RoI #{index}: no pixels of it left to remove")
        return done

    def accept_roi(self, index: int | None) -> bool:
        """Mark RoI ``index`` of the current slice as confirmed (its pixels stay)."""
        roi = self._roi(index)
        if roi is None:
            return False
        self.session.confirm_roi(self.session.current_slice, roi)
        self.message.emit(f"RoI #{index} accepted")
        return True
