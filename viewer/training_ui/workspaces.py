"""Folders offered for training (workspaces, classification data), remembered in the viewer's settings."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

KEY = "training/workspaces"
CLASSIFIER_KEY = "training/classifier_data"
MAX_REMEMBERED = 50


def remembered_folders(settings: QSettings, key: str = KEY) -> list[str]:
    """Folders remembered under ``key`` that still exist (workspaces: that still hold a ``review.json``)."""
    value = settings.value(key, [])
    if isinstance(value, str):
        value = [value]
    folders = [str(v) for v in (value or []) if v and Path(str(v)).is_dir()]
    return [f for f in folders if key != KEY or (Path(f) / "review.json").is_file()]


def remembered_workspaces(settings: QSettings) -> list[str]:
    """Workspace folders added with "Add workspace folder…" that still hold a ``review.json``."""
    return remembered_folders(settings, KEY)


def set_remembered(settings: QSettings, folders: list[str | Path], key: str = KEY) -> list[str]:
    """Remember ``folders`` under ``key`` (absolute, no duplicates, at most :data:`MAX_REMEMBERED`)."""
    items: list[str] = []
    for folder in folders:
        entry = str(Path(folder).expanduser().resolve())
        if entry not in items:
            items.append(entry)
    items = items[:MAX_REMEMBERED]
    settings.setValue(key, items)
    settings.sync()
    return items


def remember_workspace(settings: QSettings, folder: str | Path, key: str = KEY) -> list[str]:
    """Add ``folder`` to the remembered list (first)."""
    return set_remembered(settings, [folder, *remembered_folders(settings, key)], key)


def forget_workspace(settings: QSettings, folder: str | Path, key: str = KEY) -> list[str]:
    """Remove ``folder`` from the remembered list."""
    entry = str(Path(folder).expanduser().resolve())
    return set_remembered(settings, [f for f in remembered_folders(settings, key) if f != entry], key)
