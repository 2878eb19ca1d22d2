"""``lesionloop export WORKSPACE --out DIR [--format F ...] [--include-unsaved]``: corrected labels out.

WORKSPACE is a workspace folder (with ``review.json``) or a CT whose workspace
is found beside it or under ``$LESIONLOOP_HOME/workspaces`` (for a DICOM folder
with workspaces of several series, give the workspace folder). Formats: ``nifti``
(``NAME_labels.nii.gz``), ``seg-nrrd`` (``NAME_labels.seg.nrrd``, opens in 3D
Slicer with segment names and colours), ``png`` (``NAME_png/``, values 0/1/2),
``png-seed`` (``NAME_png_seed/``, the seed's 0 bg, 1 lung, 2 GGO,
3 consolidation; LesionLoop keeps no lung mask, so 1 does not occur), or
``all`` (the default). The saved state is exported; edits only in the journal
(after a crash) are left out unless ``--include-unsaved`` replays them first.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core_models.errors import InputError, LesionLoopError
from core_models.io import list_series
from core_models.workspace import FORMATS, WORKSPACE_FILE, Workspace, export_workspace, find_workspace


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a workspace's corrected labels (NIfTI, .seg.nrrd, PNG)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("workspace", help="workspace folder, or the CT file/folder whose workspace to export")
    p.add_argument("--out", required=True, help="folder to write into (created when missing)")
    p.add_argument("--format", action="append", choices=(*FORMATS, "all"), dest="formats", metavar="FORMAT",
                   help=f"one of {', '.join(FORMATS)}, all (default: all; may be repeated)")
    p.add_argument("--include-unsaved", action="store_true",
                   help="replay journalled edits not yet saved (after a crash) before exporting")
    p.set_defaults(func=run)


def workspace_folder(path: str | Path) -> Path:
    """The workspace folder meant by ``path``: itself, or the workspace of the CT it names."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} does not exist")
    if (path / WORKSPACE_FILE).is_file():
        return path
    found = [f for f in (find_workspace(path), *_series_workspaces(path)) if f and (f / WORKSPACE_FILE).is_file()]
    found = list(dict.fromkeys(found))
    if not found:
        raise InputError(f"{path} is not a LesionLoop workspace and no saved workspace of it was found")
    if len(found) > 1:
        raise InputError(f"{path} has workspaces of {len(found)} series; give one of them: "
                         + ", ".join(map(str, found)))
    return found[0]


def _series_workspaces(path: Path) -> list[Path]:
    """The workspaces of the DICOM series of a folder (none for files or unreadable folders)."""
    if not path.is_dir():
        return []
    try:
        uids = [s.uid for s in list_series(path) if s.uid]
    except LesionLoopError:
        return []
    return [f for uid in uids if (f := find_workspace(path, uid)) is not None]


def run(args: argparse.Namespace) -> int:
    formats = list(FORMATS) if not args.formats or "all" in args.formats else list(dict.fromkeys(args.formats))
    ws = Workspace.open(workspace_folder(args.workspace))
    pending = ws.pending_recovery()
    if pending and args.include_unsaved:
        ws.recover()
    elif pending:
        print(f"lesionloop export: note: {pending} journalled change(s) not saved are left out "
              "(open the series to recover them, or pass --include-unsaved)", file=sys.stderr)
    try:
        written = export_workspace(ws, args.out, formats)
    finally:
        ws.close()
    for path in written:
        print(path)
    return 0
