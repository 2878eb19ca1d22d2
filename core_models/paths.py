"""Where LesionLoop finds its bundled resources and keeps user data."""
from __future__ import annotations

import os
from pathlib import Path


def resources_dir() -> Path:
    """Folder of bundled resources (label table, sample CT, models, icons).

    ``$LESIONLOOP_RESOURCES`` overrides the default, which is ``resources/``
    beside the packages (the project is installed editable).
    """
    env = os.environ.get("LESIONLOOP_RESOURCES")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "resources"


def user_home() -> Path:
    """Folder for user data: the model registry, logs, settings.

    ``$LESIONLOOP_HOME`` overrides; otherwise ``$XDG_DATA_HOME/lesionloop`` or
    ``~/.local/share/lesionloop`` (``%APPDATA%/lesionloop`` on Windows).
    """
    env = os.environ.get("LESIONLOOP_HOME")
    if env:
        return Path(env)
    if os.name == "nt" and os.environ.get("APPDATA"):
        return Path(os.environ["APPDATA"]) / "lesionloop"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "lesionloop"
