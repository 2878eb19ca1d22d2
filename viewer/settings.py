"""User preferences through QSettings, with a schema version.

The settings file lives in the LesionLoop home (``viewer.ini``), so tests and
several installations stay apart. A file written by another schema is reset.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from core_models.paths import user_home

SCHEMA = 1
MAX_RECENT = 10


def open_settings() -> QSettings:
    """The viewer's settings (reset when their schema differs from :data:`SCHEMA`)."""
    settings = QSettings(str(user_home() / "viewer.ini"), QSettings.Format.IniFormat)
    if settings.value("schema", None) not in (None, SCHEMA, str(SCHEMA)):
        settings.clear()
    settings.setValue("schema", SCHEMA)
    return settings


def recent_files(settings: QSettings) -> list[str]:
    """Recently opened paths, newest first."""
    value = settings.value("recent", [])
    if isinstance(value, str):
        value = [value]
    return [str(v) for v in (value or []) if v]


def add_recent(settings: QSettings, path: str | Path) -> list[str]:
    """Put ``path`` first in the recent list (no duplicates, at most :data:`MAX_RECENT`)."""
    entry = str(Path(path).expanduser().resolve())
    items = [entry] + [p for p in recent_files(settings) if p != entry]
    items = items[:MAX_RECENT]
    settings.setValue("recent", items)
    settings.sync()
    return items
