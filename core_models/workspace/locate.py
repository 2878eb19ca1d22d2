"""Where the workspace of a CT series lives.

Next to the data when its folder is writable (``<parent>/<name>.lesionloop/``,
so corrections travel with the scan), otherwise under
``$LESIONLOOP_HOME/workspaces/<name>-<hash>/`` where ``<hash>`` is 8 hex digits
of the CT's absolute path (two series of the same name never share one).

A DICOM folder may hold several series, so a workspace of a DICOM series also
carries 8 hex digits of its SeriesInstanceUID's SHA-256:
``<parent>/<name>-<uid hash>.lesionloop/`` or
``$LESIONLOOP_HOME/workspaces/<name>-<hash>-<uid hash>/``. Workspaces made before
series were told apart (un-suffixed) are still found for a series when their
``review.json`` names that series or none and the CT folder holds only one series.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from core_models.errors import LesionLoopError
from core_models.io import list_series
from core_models.paths import user_home
from core_models.volume import CTVolume
from core_models.workspace.review import JOURNAL_FILE, WORKSPACE_FILE, load_review_json, parse_series

SUFFIX = ".lesionloop"


def _absolute(ct_path: str | Path) -> Path:
    return Path(os.path.abspath(Path(ct_path).expanduser()))


def _writable(folder: Path) -> bool:
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)


def volume_series(volume: CTVolume) -> str | None:
    """The SeriesInstanceUID of a volume read from a DICOM folder, else None.

    Only a DICOM folder can hold several series; single files and other formats give None.
    """
    meta = volume.meta or {}
    uid = meta.get("series_uid") if meta.get("format") == "dicom-series" else None
    return str(uid) if uid else None


def series_tag(series: str | None) -> str:
    """``-<8 hex of the SHA-256 of the series UID>``, or ``""`` without a series."""
    if not series:
        return ""
    return "-" + hashlib.sha256(str(series).encode("utf-8")).hexdigest()[:8]


def beside_data_dir(ct_path: str | Path, series: str | None = None) -> Path:
    """``<parent>/<name>[-<series hash>].lesionloop`` of a CT file or DICOM folder."""
    path = _absolute(ct_path)
    return path.parent / (path.name + series_tag(series) + SUFFIX)


def home_workspace_dir(ct_path: str | Path, series: str | None = None) -> Path:
    """``$LESIONLOOP_HOME/workspaces/<name>-<8 hex of the absolute path's SHA-256>[-<series hash>]``."""
    path = _absolute(ct_path)
    digest = hashlib.sha256(str(path).encode("utf-8")).hexdigest()[:8]
    return user_home() / "workspaces" / f"{path.name}-{digest}{series_tag(series)}"


def default_workspace_dir(ct_path: str | Path, series: str | None = None) -> Path:
    """The folder a new workspace for ``ct_path`` (its DICOM series ``series``, when given) goes to.

    Next to the data when that folder (or an existing workspace folder there)
    is writable, else under ``$LESIONLOOP_HOME/workspaces``.
    """
    beside = beside_data_dir(ct_path, series)
    if _writable(beside) if beside.exists() else _writable(beside.parent):
        return beside
    return home_workspace_dir(ct_path, series)


def holds_workspace(folder: Path) -> bool:
    """Whether ``folder`` holds a review file or a journal."""
    return (folder / WORKSPACE_FILE).is_file() or (folder / JOURNAL_FILE).is_file()


def find_workspace(ct_path: str | Path, series: str | None = None) -> Path | None:
    """The existing workspace of ``ct_path`` (beside the data first, then under the user home), or None.

    With ``series`` (a DICOM SeriesInstanceUID), the series' own folders are looked for first;
    an un-suffixed (older) workspace is taken only when :func:`legacy_fits` says it is this series'.
    """
    for folder in (beside_data_dir(ct_path, series), home_workspace_dir(ct_path, series)):
        if holds_workspace(folder):
            return folder
    if series:
        for folder in (beside_data_dir(ct_path), home_workspace_dir(ct_path)):
            if holds_workspace(folder) and legacy_fits(folder, ct_path, series):
                return folder
    return None


def legacy_fits(folder: Path, ct_path: str | Path, series: str) -> bool:
    """Whether an un-suffixed workspace belongs to ``series`` of ``ct_path``.

    True when its ``review.json`` (if any) names ``series`` or no series, and the CT
    folder holds exactly that one series; unreadable files count as not fitting.
    """
    try:
        if (folder / WORKSPACE_FILE).is_file():
            recorded = parse_series(load_review_json(folder), folder / WORKSPACE_FILE)
            if recorded not in (None, series):
                return False
        found = list_series(ct_path)
    except (LesionLoopError, OSError):
        return False
    return len(found) == 1 and found[0].uid == series
