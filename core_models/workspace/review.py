"""The review file (``review.json``) of a workspace: format, statuses, reader.

``review.json`` is the one file training reads besides the labels (format
``lesionloop-review``, schema 1)::

    {
      "format": "lesionloop-review", "schema": 1,
      "ct": "/data/patient7/series3",       CT file or DICOM folder (relative: to the workspace)
      "series": "1.2.840...",               SeriesInstanceUID when "ct" is a DICOM folder (else absent
                                            or null; a folder may hold several series)
      "labels": "labels.nii.gz",            corrected labels (0 bg, 1 GGO, 2 consolidation)
      "slices": {"41": "accepted", ...},    z -> status, for slices that are not unreviewed
      "notes": {"41": {"note": "", "user": "ana", "time": "2026-...Z"}, ...},
      "confirmed": {"41": [{"box": [x0, y0, x1, y1], "label": 1, "score": 0.93}]},
      "provenance": {"model_version": "...", "edit_counts": {"41": 3}, "created": "...",
                     "saved": "...", "app": "LesionLoop 0.1.0"},
      "journal_seq": 17                     last journal record included in this saved state
    }

Slices not listed are ``unreviewed``. Only ``accepted`` and ``corrected`` slices
train (:data:`TRAINING_STATUSES`). Keys beyond ``format``/``schema``/``ct``/
``labels``/``slices`` are additions of the viewer; readers ignore what they do
not know.
"""
from __future__ import annotations

import datetime as _dt
import getpass
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core_models.errors import InputError

WORKSPACE_FILE = "review.json"
WORKSPACE_FORMAT = "lesionloop-review"
WORKSPACE_SCHEMA = 1
JOURNAL_FILE = "journal.jsonl"
LABELS_FILE = "labels.nii.gz"
SEG_FILE = "labels.seg.nrrd"
PREDICTION_FILE = "prediction.nii.gz"
STATUSES: tuple[str, ...] = ("unreviewed", "accepted", "corrected", "flagged")
TRAINING_STATUSES: tuple[str, ...] = ("accepted", "corrected")


@dataclass
class SliceReview:
    """Review state of one axial slice.

    Attributes
    ----------
    status : one of :data:`STATUSES`.
    note : free text ("" for none).
    user : OS user name of whoever last set it.
    time : when, ISO 8601 UTC (``2026-11-23T15:30:02Z``).
    """

    status: str = "unreviewed"
    note: str = ""
    user: str = ""
    time: str = ""

    @property
    def is_blank(self) -> bool:
        """Unreviewed with no note: not worth keeping."""
        return self.status == "unreviewed" and not self.note


def now_iso() -> str:
    """The current time, ISO 8601 UTC to the second."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def current_user() -> str:
    """The OS user name (``getpass.getuser``), or ``$USER``/``$USERNAME``, or ``"unknown"``."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError, ImportError):
        name = os.environ.get("USER") or os.environ.get("USERNAME") or ""
    return name or "unknown"


def load_review_json(folder: str | Path) -> dict[str, Any]:
    """The checked JSON object of ``folder/review.json`` (format, schema and ``ct`` verified)."""
    path = Path(folder) / WORKSPACE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path} is not readable JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict) or data.get("format", WORKSPACE_FORMAT) != WORKSPACE_FORMAT:
        raise InputError(f"{path} is not a LesionLoop review file")
    schema = data.get("schema", WORKSPACE_SCHEMA)
    if not isinstance(schema, int) or schema > WORKSPACE_SCHEMA:
        raise InputError(f"{path} has review schema {schema!r}; this LesionLoop reads schema {WORKSPACE_SCHEMA}")
    if not isinstance(data.get("ct"), str) or not data["ct"]:
        raise InputError(f"{path} names no CT (\"ct\": path to the CT volume or DICOM folder)")
    return data


def read_review(folder: str | Path) -> dict[str, Any]:
    """Parse and check ``review.json``.

    Returns ``ct`` and ``labels`` as Paths, ``series`` (the DICOM SeriesInstanceUID, or None)
    and ``slices`` as {z: status}.
    """
    folder = Path(folder)
    data = load_review_json(folder)
    return {"ct": resolve(folder, data["ct"]), "labels": resolve(folder, str(data.get("labels", LABELS_FILE))),
            "series": parse_series(data, folder / WORKSPACE_FILE),
            "slices": parse_statuses(data.get("slices", {}), folder / WORKSPACE_FILE)}


def parse_series(data: dict[str, Any], path: Path) -> str | None:
    """The ``series`` of a review file: a non-empty SeriesInstanceUID, or None when absent or null."""
    series = data.get("series")
    if series is None:
        return None
    if not isinstance(series, str) or not series.strip():
        raise InputError(f"{path}: \"series\" must be a DICOM SeriesInstanceUID (text) or null")
    return series.strip()


def resolve(folder: Path, text: str) -> Path:
    """``text`` as a path; relative paths are relative to the workspace ``folder``."""
    p = Path(text).expanduser()
    return p if p.is_absolute() else folder / p


def slice_index(key: Any, path: Path) -> int:
    """A slice index from a JSON key; InputError when it is not a whole number >= 0."""
    try:
        z = int(key)
    except (TypeError, ValueError):
        raise InputError(f"{path}: slice index {key!r} is not a whole number") from None
    if z < 0:
        raise InputError(f"{path}: slice index {z} is negative")
    return z


def parse_statuses(raw: Any, path: Path) -> dict[int, str]:
    """``{"41": "accepted"}`` -> ``{41: "accepted"}``, every status checked."""
    if not isinstance(raw, dict):
        raise InputError(f"{path}: \"slices\" must map slice indices to a status")
    out: dict[int, str] = {}
    for key, status in raw.items():
        z = slice_index(key, path)
        if status not in STATUSES:
            raise InputError(f"{path}: slice {z} has status {status!r}; use one of {', '.join(STATUSES)}")
        out[z] = str(status)
    return out


def parse_reviews(data: dict[str, Any], path: Path) -> dict[int, SliceReview]:
    """Statuses and notes of a review file merged into :class:`SliceReview` entries."""
    statuses = parse_statuses(data.get("slices", {}), path)
    notes = data.get("notes", {})
    if not isinstance(notes, dict):
        raise InputError(f"{path}: \"notes\" must map slice indices to a note")
    reviews = {z: SliceReview(status) for z, status in statuses.items()}
    for key, entry in notes.items():
        z = slice_index(key, path)
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k, ""), str) for k in ("note", "user", "time")):
            raise InputError(f"{path}: the note of slice {z} is malformed")
        review = reviews.setdefault(z, SliceReview())
        review.note, review.user, review.time = entry.get("note", ""), entry.get("user", ""), entry.get("time", "")
    return {z: r for z, r in reviews.items() if not r.is_blank}


def reviews_to_json(reviews: dict[int, SliceReview]) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """(``slices``, ``notes``) objects of a review file, in z order."""
    slices = {str(z): r.status for z, r in sorted(reviews.items()) if r.status != "unreviewed"}
    notes = {str(z): {"note": r.note, "user": r.user, "time": r.time} for z, r in sorted(reviews.items())}
    return slices, notes
