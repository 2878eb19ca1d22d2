"""A small terminal progress bar on stderr (no dependency)."""
from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """``[#####.....] 12/72 slices, 5 s left`` redrawn in place on a terminal.

    On a non-terminal stream it prints a line at most every ``interval`` seconds
    and at the end, so logs stay readable.
    """

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30, interval: float = 5.0) -> None:
        self.label, self.width, self.interval = label, width, interval
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = 0.0

    def update(self, done: int, total: int, message: str = "") -> None:
        now = time.monotonic()
        final = done >= total
        if not self.tty and not final and now - self._last < self.interval:
            return
        self._last = now
        filled = int(self.width * done / total) if total else self.width
        bar = "#" * filled + "." * (self.width - filled)
        text = f"{self.label} [{bar}] {message or f'{done}/{total}'}"
        if self.tty:
            self.stream.write("\r" + text.ljust(79) + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
