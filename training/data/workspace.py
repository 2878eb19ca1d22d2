"""Reading a reviewer's workspace: the viewer's corrected labels as training data.

The viewer writes the workspace; training only reads it, through this small
interface (format 1)::

    WORKSPACE/
        review.json        what was reviewed (below)
        labels.nii.gz      corrected labels on the CT's grid: 0 background, 1 GGO, 2 consolidation

``review.json``::

    {
      "format": "lesionloop-review",
      "schema": 1,
      "ct": "/data/patient7/series3",     CT volume file or DICOM folder; relative paths are
                                          relative to the workspace folder
      "labels": "labels.nii.gz",          optional; this is the default
      "slices": {"41": "accepted",        axial slice index z (0-based, CT array order) ->
                 "42": "corrected",       status: unreviewed | accepted | corrected | flagged
                 "57": "flagged"}
    }

Slices not listed are ``unreviewed``. Only ``accepted`` (the prediction was
right) and ``corrected`` (the reviewer fixed it) slices train; ``flagged``
(unsure) and ``unreviewed`` slices never do. The labels must have the CT's
shape; a DICOM folder with several series is read as its largest series.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core_models.errors import InputError
from core_models.io import list_series
from training.data.records import KIND_VOLUME, SliceRecord

WORKSPACE_FILE = "review.json"
WORKSPACE_FORMAT = "lesionloop-review"
WORKSPACE_SCHEMA = 1
STATUSES: tuple[str, ...] = ("unreviewed", "accepted", "corrected", "flagged")
TRAINING_STATUSES: tuple[str, ...] = ("accepted", "corrected")


def read_review(folder: str | Path) -> dict[str, Any]:
    """Parse and check ``review.json``; returns ``ct`` and ``labels`` as Paths and ``slices`` as {z: status}."""
    folder = Path(folder)
    path = folder / WORKSPACE_FILE
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
    return {"ct": _resolve(folder, data["ct"]), "labels": _resolve(folder, str(data.get("labels", "labels.nii.gz"))),
            "slices": _statuses(data.get("slices", {}), path)}


def _resolve(folder: Path, text: str) -> Path:
    p = Path(text).expanduser()
    return p if p.is_absolute() else folder / p


def _statuses(raw: Any, path: Path) -> dict[int, str]:
    if not isinstance(raw, dict):
        raise InputError(f"{path}: \"slices\" must map slice indices to a status")
    out: dict[int, str] = {}
    for key, status in raw.items():
        try:
            z = int(key)
        except (TypeError, ValueError):
            raise InputError(f"{path}: slice index {key!r} is not a whole number") from None
        if z < 0:
            raise InputError(f"{path}: slice index {z} is negative")
        if status not in STATUSES:
            raise InputError(f"{path}: slice {z} has status {status!r}; use one of {', '.join(STATUSES)}")
        out[z] = str(status)
    return out


def workspace_records(folder: str | Path) -> list[SliceRecord]:
    """The accepted and corrected slices of a workspace, in z order."""
    folder = Path(folder)
    review = read_review(folder)
    ct, labels = review["ct"], review["labels"]
    for p, what in ((ct, "CT"), (labels, "labels")):
        if not p.exists():
            raise InputError(f"workspace {folder}: its {what} {p} does not exist")
    n_slices = list_series(ct)[0].n_slices
    chosen = sorted(z for z, s in review["slices"].items() if s in TRAINING_STATUSES)
    outside = [z for z in chosen if z >= n_slices]
    if outside:
        raise InputError(f"workspace {folder}: slice {outside[0]} is reviewed but the CT has {n_slices} slices")
    return [SliceRecord(f"{folder.name}/z={z}", "workspace", KIND_VOLUME, str(ct), str(labels), z) for z in chosen]
