"""Reading and writing CT volumes and label maps.

One entry point per job, dispatching on what the path is:

- :func:`read_volume` - DICOM folder (several series: the largest, or the one
  asked for) or file, NIfTI, NRRD, MHA/MHD, a PNG/JPG slice or a folder of them;
- :func:`list_series` - the series found at a path;
- :func:`write_volume` - ``.nii``, ``.nii.gz``, ``.nrrd``, ``.mha``;
- :func:`read_labels` / :func:`write_labels` - label volumes, 3D Slicer
  ``.seg.nrrd``, PNG masks (ours or the seed's convention).

Headers are checked before pixel data is read (memory, 4D, colour), every
write is atomic, and every failure the user can cause is a one-line
:class:`~core_models.errors.LesionLoopError`.
"""
from __future__ import annotations

from core_models.io.labels_io import read_labels, write_labels
from core_models.io.series import SeriesInfo
from core_models.io.volume_io import list_series, read_volume, write_volume

__all__ = ["SeriesInfo", "list_series", "read_labels", "read_volume", "write_labels", "write_volume"]
