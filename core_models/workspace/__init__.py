"""The corrections store: one workspace per CT series (labels, review state, journal, export).

- :mod:`.review` - ``review.json`` format, statuses, :class:`SliceReview`, the reader training uses;
- :mod:`.journal` - the fsync'ed, CRC-checked journal of changes since the last save;
- :mod:`.store` - :class:`Workspace` (create, open, record changes, save, recover);
- :mod:`.locate` - where a series' workspace lives (one per DICOM series of a folder);
- :mod:`.lock` - ``lock.json`` (one writing process per workspace) and clean-up of interrupted saves' temp files;
- :mod:`.export` - NIfTI, .seg.nrrd and PNG export.

Qt-free, like all of :mod:`core_models`.
"""
from __future__ import annotations

from core_models.workspace.export import FORMATS, export_workspace
from core_models.workspace.locate import default_workspace_dir, find_workspace, volume_series
from core_models.workspace.lock import LOCK_FILE, WorkspaceBusy, WorkspaceLock, remove_temp_files
from core_models.workspace.review import (JOURNAL_FILE, STATUSES, TRAINING_STATUSES, WORKSPACE_FILE, WORKSPACE_FORMAT,
                                          WORKSPACE_SCHEMA, SliceReview, read_review)
from core_models.workspace.store import Workspace

__all__ = ["FORMATS", "JOURNAL_FILE", "LOCK_FILE", "STATUSES", "TRAINING_STATUSES", "WORKSPACE_FILE",
           "WORKSPACE_FORMAT", "WORKSPACE_SCHEMA", "SliceReview", "Workspace", "WorkspaceBusy", "WorkspaceLock",
           "default_workspace_dir", "export_workspace", "find_workspace", "read_review", "remove_temp_files",
           "volume_series"]
