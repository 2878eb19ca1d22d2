"""``read_volume`` / ``list_series`` / ``write_volume``: dispatch by what a path is."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from core_models.errors import InputError
from core_models.io.dicom import (
    dicom_file_series,
    dicom_header,
    find_series,
    read_dicom_file,
    read_dicom_series,
)
from core_models.io.formats import (
    SITK_SUFFIXES,
    check_exists,
    file_kind,
    folder_files,
    full_suffix,
    image_files,
    is_dicom_file,
    only_images,
)
from core_models.io.images import image_series_info, read_image_file, read_image_folder
from core_models.io.series import SeriesInfo, choose_series
from core_models.io.sitk_files import read_sitk_volume, sitk_series_info, write_image
from core_models.volume import CTVolume

VOLUME_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".mha")


def _empty_folder_error(folder: Path, files: list[Path]) -> InputError:
    dicoms = [p for p in files if is_dicom_file(p)]
    if dicoms:
        dicom_header(dicoms[0])  # raises with the reason the first one is unreadable
        return InputError(f"folder {folder} holds {len(dicoms)} DICOM files but no readable image series")
    volumes = [p.name for p in files if full_suffix(p) in SITK_SUFFIXES]
    if volumes:
        return InputError(f"no DICOM series or PNG/JPG slices in {folder}; to open a volume file, "
                          f"give its path (e.g. {folder / volumes[0]})")
    subfolders = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    hint = f" (it has subfolders: {', '.join(subfolders[:5])}; open one of them)" if subfolders else ""
    return InputError(f"no DICOM series or PNG/JPG slices in {folder}{hint}")


def _folder_series(folder: Path) -> tuple[str, list[SeriesInfo], list[Path]]:
    """What a folder holds: ("images", ...), ("dicom", series, ...) or an InputError."""
    files = folder_files(folder)
    if only_images(files):
        return "images", [image_series_info(folder, image_files(files))], image_files(files)
    found = find_series(folder)
    if found:
        return "dicom", found, files
    if image_files(files):
        return "images", [image_series_info(folder, image_files(files))], image_files(files)
    raise _empty_folder_error(folder, files)


def _file_series(path: Path) -> SeriesInfo:
    kind = file_kind(path)
    if kind == "image":
        return image_series_info(path)
    if kind == "dicom-file":
        return dicom_file_series(path)
    return sitk_series_info(path, kind)


def list_series(path: str | Path) -> list[SeriesInfo]:
    """The series at ``path``: DICOM series of a folder (largest first), or one entry."""
    source = Path(path).expanduser()
    check_exists(source)
    if source.is_dir():
        return _folder_series(source)[1]
    return [_file_series(source)]


def read_volume(path: str | Path, series: str | int | None = None) -> CTVolume:
    """Read a CT volume (or a 2D image as one slice) from any supported input.

    Parameters
    ----------
    path : DICOM folder or file, NIfTI (``.nii``, ``.nii.gz``), NRRD, MHA/MHD,
        a PNG/JPG slice, or a folder of PNG/JPG slices.
    series : for a DICOM folder with several series, which one: 0-based index
        in :func:`list_series` order, or a SeriesInstanceUID (or unique prefix).
        Default: the largest.

    Returns
    -------
    CTVolume with int16 values (HU for CT) and the file's geometry; all
    series found are listed in ``meta["series"]``.
    """
    source = Path(path).expanduser()
    check_exists(source)
    if source.is_dir():
        what, found, files = _folder_series(source)
        if what == "dicom":
            return read_dicom_series(source, series, found)
        choose_series(found, series, f"image folder {source}")
        return read_image_folder(source, files)
    if series is not None:
        choose_series([_file_series(source)], series, str(source))
    kind = file_kind(source)
    if kind == "image":
        return read_image_file(source)
    if kind == "dicom-file":
        return read_dicom_file(source)
    return read_sitk_volume(source, kind)


def write_volume(volume: CTVolume, path: str | Path, *, compress: bool = False) -> Path:
    """Write a volume with its geometry to ``.nii``, ``.nii.gz``, ``.nrrd`` or ``.mha``.

    Plain 8-bit images (``is_hu=False`` with values 0-255) are written as
    uint8 so they read back as non-HU; CT is written as int16 HU.

    Parameters
    ----------
    volume : the volume.
    path : target file; its suffix picks the format.
    compress : gzip the pixel data of ``.nrrd``/``.mha`` (``.nii.gz`` is always compressed).
    """
    target = Path(path)
    if full_suffix(target) not in VOLUME_SUFFIXES:
        raise InputError(f"cannot write a volume to '{target.name}': use .nii, .nii.gz, .nrrd or .mha")
    array = volume.array
    if not volume.is_hu and array.size and array.min() >= 0 and array.max() <= 255:
        array = array.astype(np.uint8)
    image = volume.geometry.apply_to(sitk.GetImageFromArray(array))
    return write_image(image, target, compress=compress)
