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
      "series": "1.2.840...",             optional: the DICOM SeriesInstanceUID in that folder
      "labels": "labels.nii.gz",          optional; this is the default
      "slices": {"41": "accepted",        axial slice index z (0-based, CT array order) ->
                 "42": "corrected",       status: unreviewed | accepted | corrected | flagged
                 "57": "flagged"}
    }

Slices not listed are ``unreviewed``. Only ``accepted`` (the prediction was
right) and ``corrected`` (the reviewer fixed it) slices train; ``flagged``
(unsure) and ``unreviewed`` slices never do. The labels must have the CT's
shape. A DICOM folder is read as the series ``series`` names (so the labels of
a smaller series never meet the pixels of the largest); without ``series``, as
its largest series.

The format itself (constants, :func:`read_review`) lives in
:mod:`core_models.workspace.review`, shared with the viewer that writes it;
the viewer adds notes, confirmed RoIs and provenance, which training ignores.
"""
from __future__ import annotations

from pathlib import Path

from core_models.errors import InputError
from core_models.io import list_series
from core_models.io.series import choose_series
from core_models.workspace.review import (STATUSES, TRAINING_STATUSES, WORKSPACE_FILE, WORKSPACE_FORMAT,
                                          WORKSPACE_SCHEMA, read_review)
from training.data.records import KIND_VOLUME, SliceRecord

__all__ = ["STATUSES", "TRAINING_STATUSES", "WORKSPACE_FILE", "WORKSPACE_FORMAT", "WORKSPACE_SCHEMA", "read_review",
           "workspace_records"]


def workspace_records(folder: str | Path) -> list[SliceRecord]:
    """The accepted and corrected slices of a workspace, in z order."""
    folder = Path(folder)
    review = read_review(folder)
    ct, labels = review["ct"], review["labels"]
    for p, what in ((ct, "CT"), (labels, "labels")):
        if not p.exists():
            raise InputError(f"workspace {folder}: its {what} {p} does not exist")
    series = review["series"]
    found = list_series(ct)
    n_slices = found[choose_series(found, series, f"CT {ct} of workspace {folder}") if series else 0].n_slices
    chosen = sorted(z for z, s in review["slices"].items() if s in TRAINING_STATUSES)
    outside = [z for z in chosen if z >= n_slices]
    if outside:
        raise InputError(f"workspace {folder}: slice {outside[0]} is reviewed but the CT has {n_slices} slices")
    return [SliceRecord(f"{folder.name}/z={z}", "workspace", KIND_VOLUME, str(ct), str(labels), z, series=series)
            for z in chosen]
