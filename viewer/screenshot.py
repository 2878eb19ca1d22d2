"""Saving what a widget shows as a PNG (atomically)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QApplication, QWidget

from core_models.atomic import atomic_path
from core_models.errors import InputError


def save_screenshot(widget: QWidget, path: str | Path) -> Path:
    """Render ``widget`` (``widget.grab()``) into the PNG ``path``."""
    target = Path(path).expanduser()
    if target.suffix.lower() != ".png":
        raise InputError(f"screenshots are saved as PNG: give a path ending in .png, not '{target.name}'")
    if not target.parent.is_dir():
        raise InputError(f"cannot save the screenshot: folder {target.parent} does not exist")
    QApplication.processEvents()
    pixmap = widget.grab()
    with atomic_path(target) as tmp:
        if not pixmap.save(str(tmp), "PNG"):
            raise InputError(f"cannot write the screenshot to {target}")
    return target
