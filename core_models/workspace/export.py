"""Exporting a workspace's corrected labels: NIfTI, Slicer .seg.nrrd, PNG slices.

Files are named after the CT (``scan.nii.gz`` -> ``scan_labels.nii.gz``,
``scan_labels.seg.nrrd``, ``scan_png/slice_0000.png``,
``scan_png_seed/slice_0000.png``); a series of a DICOM folder adds the 8 hex
digits its workspace folder carries (``series3-1a2b3c4d_labels.nii.gz``), so the
series of one folder can be exported side by side. Every file is written
atomically with the CT's geometry (volumes) or as single-channel 8-bit PNG (slices).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from core_models.errors import InputError
from core_models.io import write_labels
from core_models.workspace.locate import series_tag
from core_models.workspace.store import Workspace

FORMATS: tuple[str, ...] = ("nifti", "seg-nrrd", "png", "png-seed")
_VOLUME_SUFFIXES = (".nii.gz", ".nii", ".seg.nrrd", ".nrrd", ".mha", ".mhd", ".dcm", ".png", ".jpg", ".jpeg")


def export_stem(ct_path: str | Path) -> str:
    """The CT's name without its file suffix (a DICOM folder keeps its name)."""
    name = Path(ct_path).name
    for suffix in _VOLUME_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name or "labels"


def export_workspace(folder_or_ws: str | Path | Workspace, out_dir: str | Path,
                     formats: tuple[str, ...] | list[str] = FORMATS, *, lung: np.ndarray | None = None) -> list[Path]:
    """Write the corrected labels of a workspace in the given formats.

    Parameters
    ----------
    folder_or_ws : a workspace folder (its saved state is exported) or an open :class:`Workspace`
        (its labels as they are in memory).
    out_dir : folder to write into (created when missing).
    formats : any of ``nifti``, ``seg-nrrd`` (3D Slicer, with segment names and colours),
        ``png`` (our values 0/1/2 per slice), ``png-seed`` (the seed's 0 background, 1 lung,
        2 GGO, 3 consolidation).
    lung : optional boolean (z, y, x) lung mask, marked 1 in ``png-seed`` where there is no lesion;
        without it no pixel is 1 (the seed treats lung as background anyway).

    Returns
    -------
    The files written, in the order of ``formats``.
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise InputError(f"unknown export format {unknown[0] if unknown else '(none)'!r}; use {', '.join(FORMATS)}")
    ws = folder_or_ws if isinstance(folder_or_ws, Workspace) else Workspace.open(folder_or_ws)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"cannot export into {out}: it is a file, not a folder")
    stem = export_stem(ws.ct_path) + series_tag(ws.series)
    written: list[Path] = []
    for fmt in dict.fromkeys(formats):
        if fmt == "nifti":
            written += write_labels(ws.corrected, out / f"{stem}_labels.nii.gz")
        elif fmt == "seg-nrrd":
            written += write_labels(ws.corrected, out / f"{stem}_labels.seg.nrrd")
        else:
            folder = out / (f"{stem}_png" if fmt == "png" else f"{stem}_png_seed")
            folder.mkdir(parents=True, exist_ok=True)
            convention = "ours" if fmt == "png" else "seed"
            written += write_labels(ws.corrected, folder, convention=convention,
                                    lung=lung if convention == "seed" else None)
    return written
