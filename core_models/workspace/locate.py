"""Where the workspace of a CT series lives.

Next to the data when its folder is writable (``<parent>/<name>.lesionloop/``,
so corrections travel with the scan), otherwise under
``$LESIONLOOP_HOME/workspaces/<name>-<hash>/`` where ``<hash>`` is 8 hex digits
of the CT's absolute path (two series of the same name never share one).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from core_models.paths import user_home
from core_models.workspace.review import JOURNAL_FILE, WORKSPACE_FILE

SUFFIX = ".lesionloop"


def _absolute(ct_path: str | Path) -> Path:
    return Path(os.path.abspath(Path(ct_path).expanduser()))


def _writable(folder: Path) -> bool:
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)


def beside_data_dir(ct_path: str | Path) -> Path:
    """``<parent>/<name>.lesionloop`` of a CT file or DICOM folder."""
    path = _absolute(ct_path)
    return path.parent / (path.name + SUFFIX)


def home_workspace_dir(ct_path: str | Path) -> Path:
    """``$LESIONLOOP_HOME/workspaces/<name>-<8 hex of the absolute path's SHA-256>``."""
    path = _absolute(ct_path)
    digest = hashlib.sha256(str(path).encode("utf-8")).hexdigest()[:8]
    return user_home() / "workspaces" / f"{path.name}-{digest}"


def default_workspace_dir(ct_path: str | Path) -> Path:
    """The folder a new workspace for ``ct_path`` goes to.

    Next to the data when that folder (or an existing workspace folder there)
    is writable, else under ``$LESIONLOOP_HOME/workspaces``.
    """
    beside = beside_data_dir(ct_path)
    if _writable(beside) if beside.exists() else _writable(beside.parent):
        return beside
    return home_workspace_dir(ct_path)


def holds_workspace(folder: Path) -> bool:
    """Whether ``folder`` holds a review file or a journal."""
    return (folder / WORKSPACE_FILE).is_file() or (folder / JOURNAL_FILE).is_file()


def find_workspace(ct_path: str | Path) -> Path | None:
    """The existing workspace of ``ct_path`` (beside the data first, then under the user home), or None."""
    for folder in (beside_data_dir(ct_path), home_workspace_dir(ct_path)):
        if holds_workspace(folder):
            return folder
    return None
