"""DICOM through SimpleITK and GDCM: series in a folder, single files.

A folder may hold several series; GDCM groups its files by
SeriesInstanceUID. The largest is read unless one is asked for. Rescale
slope/intercept are applied by GDCM, so values arrive in Hounsfield units
for CT; compressed transfer syntaxes (JPEG-Lossless, JPEG 2000, RLE) are
decoded by GDCM.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from core_models.errors import InputError
from core_models.io.formats import is_dicom_file
from core_models.io.guards import (
    bytes_per_pixel,
    check_memory,
    check_shape,
    itk_errors,
    quiet_itk,
    silenced_c_stderr,
)
from core_models.io.planes import slice_plane
from core_models.io.series import SeriesInfo, choose_series, plural, short_uid, sort_series
from core_models.io.sitk_files import geometry_of, image_to_int16
from core_models.volume import CTVolume

_TAGS = {"uid": "0020|000e", "description": "0008|103e", "modality": "0008|0060",
         "date": "0008|0021", "time": "0008|0031", "position": "0020|0032"}
_PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"


def _tag(reader: sitk.ImageFileReader, key: str) -> str:
    tag = _TAGS[key]
    return reader.GetMetaData(tag).strip() if reader.HasMetaDataKey(tag) else ""


def _why_unreadable(path: Path) -> str:
    """Reason a file with the DICOM marker has no readable image."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(64 << 20)
    except OSError as exc:
        return f"cannot open it ({exc.strerror})"
    if _PIXEL_DATA_TAG not in data:
        return "it holds no pixel data (not an image, e.g. a report, or a file cut short)"
    return "its image cannot be decoded (the file may be truncated or damaged)"


def dicom_header(path: Path) -> sitk.ImageFileReader:
    """ImageFileReader of one DICOM file with its header (tags, size) read."""
    quiet_itk()
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.SetImageIO("GDCMImageIO")
    try:
        with silenced_c_stderr():
            reader.ReadImageInformation()
    except RuntimeError:
        if is_dicom_file(path):
            raise InputError(f"DICOM file {path} cannot be read: {_why_unreadable(path)}") from None
        raise InputError(f"{path} is not a readable DICOM file") from None
    return reader


def _series_info(uid: str, files: tuple[str, ...]) -> SeriesInfo:
    reader = dicom_header(Path(files[0]))
    date = _tag(reader, "date") + _tag(reader, "time").split(".")[0]
    return SeriesInfo(uid, _tag(reader, "description"), len(files), _tag(reader, "modality"), date, files)


def find_series(folder: Path) -> list[SeriesInfo]:
    """DICOM series of a folder (not recursive), largest first; empty when none."""
    quiet_itk()
    with itk_errors(f"DICOM folder {folder}", doing="scan"):
        uids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
    found, problems = [], []
    for uid in uids:
        with itk_errors(f"DICOM folder {folder}", doing="scan"):
            files = tuple(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), uid))
        try:
            if files:
                found.append(_series_info(uid, files))
        except InputError as exc:  # one unreadable series must not hide the others
            problems.append(exc)
    if problems and not found:
        raise problems[0]
    return sort_series(found)


def _file_series_info(path: Path, reader: sitk.ImageFileReader) -> SeriesInfo:
    size = reader.GetSize()
    date = _tag(reader, "date") + _tag(reader, "time").split(".")[0]
    return SeriesInfo(_tag(reader, "uid"), _tag(reader, "description"),
                      int(size[2]) if len(size) > 2 else 1, _tag(reader, "modality"), date, (str(path),))


def dicom_file_series(path: Path) -> SeriesInfo:
    """The one series entry of a single DICOM file."""
    return _file_series_info(path, dicom_header(path))


def _guard(reader: sitk.ImageFileReader, n_files: int, what: str) -> None:
    size = tuple(int(s) for s in reader.GetSize())
    check_shape(size, int(reader.GetNumberOfComponents()), what)
    voxels = math.prod(size) * n_files
    check_memory(voxels * (bytes_per_pixel(reader.GetPixelID()) * reader.GetNumberOfComponents() + 2), what)


def _positions(reader: sitk.ImageSeriesReader, n: int) -> np.ndarray | None:
    """ImagePositionPatient (x, y, z) mm of each slice, or None where one lacks it."""
    try:
        rows = [reader.GetMetaData(i, _TAGS["position"]).split("\\") for i in range(n)]
        return np.array([[float(v) for v in row[:3]] for row in rows])
    except (RuntimeError, ValueError, IndexError):
        return None


def _spacing_warning(reader: sitk.ImageSeriesReader, image: sitk.Image, n: int) -> list[str]:
    """A warning when the slices are not evenly spaced (a missing or duplicate slice)."""
    positions = _positions(reader, n) if n >= 3 else None
    if positions is None:
        return []
    normal = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)[:, 2]
    steps = np.abs(np.diff(positions @ normal))
    median = float(np.median(steps))
    if median > 0 and float(np.max(np.abs(steps - median))) <= 0.01 * median:
        return []
    return [f"slices are unevenly spaced ({steps.min():.3g} to {steps.max():.3g} mm apart); "
            "a slice may be missing or duplicated, and distances along z may be off"]


def _to_volume(image: sitk.Image, header: sitk.ImageFileReader, what: str, source: str,
               meta: dict) -> CTVolume:
    array, warnings = image_to_int16(image, what)
    geometry = geometry_of(image, what)
    modality = _tag(header, "modality") or "CT"
    is_hu = modality == "CT" and image.GetPixelID() != sitk.sitkUInt8
    meta = {**meta, "warnings": warnings + meta.get("warnings", []), "plane": slice_plane(geometry),
            "series_uid": _tag(header, "uid"), "series_description": _tag(header, "description")}
    return CTVolume(array, geometry, modality=modality, is_hu=is_hu, source=source, meta=meta)


def read_dicom_series(folder: Path, series: str | int | None, found: list[SeriesInfo]) -> CTVolume:
    """Read one series of a DICOM folder; ``found`` is :func:`find_series`'s list."""
    index = choose_series(found, series, f"DICOM folder {folder}")
    chosen = found[index]
    what = f"DICOM series {short_uid(chosen.uid)} in {folder}"
    header = dicom_header(Path(chosen.files[0]))
    _guard(header, len(chosen.files), what)
    reader = sitk.ImageSeriesReader()
    reader.SetImageIO("GDCMImageIO")
    reader.SetFileNames(list(chosen.files))
    reader.MetaDataDictionaryArrayUpdateOn()  # slice positions, for the spacing check (no extra reads)
    with itk_errors(what):
        image = reader.Execute()
    meta = {"format": "dicom-series",
            "series": [s.to_json(chosen=(i == index)) for i, s in enumerate(found)],
            "warnings": _spacing_warning(reader, image, len(chosen.files))}
    source = f"DICOM series {short_uid(chosen.uid)} ({plural(len(chosen.files), 'slice')}) in {folder}"
    return _to_volume(image, header, what, source, meta)


def read_dicom_file(path: Path) -> CTVolume:
    """Read one DICOM file (an axial, coronal or sagittal slice, or a multi-frame image)."""
    what = f"DICOM file {path}"
    header = dicom_header(path)
    _guard(header, 1, what)
    with itk_errors(what):
        image = header.Execute()
    info = _file_series_info(path, header)
    plane = slice_plane(geometry_of(image, what))
    source = f"DICOM file {path} ({plane}, {image.GetSize()[0]}x{image.GetSize()[1]})"
    meta = {"format": "dicom-file", "series": [info.to_json(chosen=True)]}
    return _to_volume(image, header, what, source, meta)
