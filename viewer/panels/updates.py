"""Cheap per-slice panel updates: a leading-edge throttle and a label that keeps its size.

While the user scrolls through slices, the slice view must repaint on every
change; a panel's purely visual follow-up (the review table's selection and
scroll, the z-plot markers) can trail behind at a lower rate as long as the
final state is always shown. :class:`Throttle` runs its callback at once when
idle and at most once per interval during a burst, always once more after the
last request. :class:`SteadyLabel` changes its text without re-laying out its
parent (a status bar relayout re-lays the whole main window) unless it must
grow.
"""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QLabel, QWidget


class Throttle(QObject):
    """Call ``callback`` now when idle, else at most once per ``interval_ms`` until requests stop.

    Parameters
    ----------
    callback : the update to run; it should read the current state (it gets no arguments).
    interval_ms : the least time between two calls during a burst, in milliseconds.
    parent : owner of the timer.
    """

    def __init__(self, callback: Callable[[], None], interval_ms: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._callback = callback
        self._pending = False
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._on_timeout)

    @property
    def pending(self) -> bool:
        """A request is waiting for the timer."""
        return self._pending

    def request(self) -> None:
        """Ask for an update: run it now if none ran in the last interval, else when the interval ends."""
        if self.timer.isActive():
            self._pending = True
            return
        self._run()

    def flush(self) -> None:
        """Run a waiting update now."""
        if self._pending:
            self._run()

    def _run(self) -> None:
        self._pending = False
        self.timer.start()  # requests in the next interval wait for it
        self._callback()

    def _on_timeout(self) -> None:
        if self._pending:
            self._run()


class SteadyLabel(QLabel):
    """A label of fixed size that only grows: a new text that fits changes no layout.

    Its width is at least its minimum width; its height is its size hint's. It fills its
    background with the window colour, so its parent is not repainted beneath it.
    """

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._size = (0, 0)  # (width, height) fixed so far, px
        self.setAutoFillBackground(True)  # opaque: a new text repaints the label, not the bar beneath
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt override
        if text == self.text():
            return
        super().setText(text)
        hint = self.sizeHint()
        size = (max(hint.width(), self._size[0], self.minimumWidth()), hint.height())
        if size != self._size:
            self._size = size
            self.setFixedSize(*size)
