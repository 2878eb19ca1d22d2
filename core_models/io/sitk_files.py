"""NIfTI, NRRD and MetaImage files through SimpleITK: header checks, reading, writing."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from core_models.atomic import atomic_path
from core_models.errors import InputError
from core_models.io.formats import IMAGE_IO, KIND_NAMES
from core_models.io.guards import (
    bytes_per_pixel,
    check_memory,
    check_shape,
    itk_errors,
    quiet_itk,
    silenced_c_stderr,
)
from core_models.io.nifti_nan import nonfinite_mask
from core_models.io.nrrd_header import check_data_file, nrrd_declared_bytes, read_nrrd_fields
from core_models.io.pixels import to_int16
from core_models.io.planes import slice_plane
from core_models.io.series import SeriesInfo, plural
from core_models.volume import CTVolume, Geometry

#: pixel types read as plain 8-bit grey images rather than Hounsfield units
NON_HU_PIXELS = (sitk.sitkUInt8,)


def describe(path: Path, kind: str) -> str:
    """``NIfTI file /path/x.nii.gz`` and the like, for messages and ``source``."""
    return f"{KIND_NAMES.get(kind, 'file')} {path}"


def read_header(path: Path, kind: str) -> sitk.ImageFileReader:
    """An ImageFileReader with the header read (no pixel data), after our own checks."""
    quiet_itk()
    what = describe(path, kind)
    if kind == "nrrd":
        fields = read_nrrd_fields(path)
        if fields is not None:
            check_memory(nrrd_declared_bytes(fields) + 2 * _declared_voxels(fields), what)
            check_data_file(path, fields)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    if kind in IMAGE_IO:
        reader.SetImageIO(IMAGE_IO[kind])
    if kind == "itk":
        try:
            with silenced_c_stderr():
                reader.ReadImageInformation()
        except RuntimeError:
            raise InputError(f"{path}: unsupported file type '{path.suffix}' (LesionLoop reads DICOM, "
                             "NIfTI, NRRD, MHA/MHD and PNG/JPG)") from None
        return reader
    with itk_errors(what):
        reader.ReadImageInformation()
    return reader


def _declared_voxels(fields: dict[str, str]) -> int:
    try:
        return math.prod(int(s) for s in fields.get("sizes", "").split())
    except ValueError:
        return 0


def check_reader(reader: sitk.ImageFileReader, what: str, out_bytes: int = 2) -> None:
    """Shape checks and the memory guard for a header-read ``reader``."""
    size = tuple(int(s) for s in reader.GetSize())
    components = int(reader.GetNumberOfComponents())
    check_shape(size, components, what)
    voxels = math.prod(size)
    check_memory(voxels * (bytes_per_pixel(reader.GetPixelID()) * components + out_bytes), what)


def execute(reader: sitk.ImageFileReader, what: str) -> sitk.Image:
    """Read the pixel data; a 4D image with one time point becomes 3D."""
    with itk_errors(what):
        image = reader.Execute()
        if image.GetDimension() == 4:
            image = image[:, :, :, 0]
    return image


def geometry_of(image: sitk.Image, what: str) -> Geometry:
    """Geometry of a 2D/3D image; InputError for zero or non-finite spacing."""
    try:
        return Geometry.from_sitk(image)
    except ValueError as exc:
        raise InputError(f"{what} has an invalid voxel grid: {exc}") from None


def image_to_int16(image: sitk.Image, what: str, nonfinite: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
    """The (z, y, x) int16 array of a scalar image (a 2D image becomes one slice).

    ``nonfinite`` marks voxels to treat as NaN (those a reader replaced by 0).
    """
    view = sitk.GetArrayViewFromImage(image)
    if view.ndim == 2:
        view = view[None]
    if nonfinite is not None and np.issubdtype(view.dtype, np.floating):
        view = np.array(view, copy=True)
        view[nonfinite.reshape(view.shape)] = np.nan
    array, warnings = to_int16(view, what)
    if array is view or array.base is not None:
        array = np.array(array, copy=True)
    return array, warnings


def _nifti_nonfinite(path: Path, kind: str, image: sitk.Image) -> np.ndarray | None:
    if kind != "nifti" or image.GetPixelID() not in (sitk.sitkFloat32, sitk.sitkFloat64):
        return None
    size = tuple(int(s) for s in image.GetSize())[::-1]
    shape = size if len(size) == 3 else (1, *size[-2:])
    return nonfinite_mask(path, shape)  # type: ignore[arg-type]


def read_sitk_volume(path: Path, kind: str) -> CTVolume:
    """Read a NIfTI / NRRD / MetaImage (or other ITK-readable) file as a CTVolume."""
    what = describe(path, kind)
    reader = read_header(path, kind)
    check_reader(reader, what)
    image = execute(reader, what)
    is_hu = image.GetPixelID() not in NON_HU_PIXELS
    array, warnings = image_to_int16(image, what, _nifti_nonfinite(path, kind, image))
    geometry = geometry_of(image, what)
    del image
    info = SeriesInfo("", f"{KIND_NAMES.get(kind, 'file')} {path.name}", array.shape[0])
    meta = {"format": kind, "warnings": warnings, "series": [info.to_json(chosen=True)],
            "plane": slice_plane(geometry)}
    return CTVolume(array, geometry, modality="CT" if is_hu else "OT", is_hu=is_hu,
                    source=f"{what} ({plural(array.shape[0], 'slice')})", meta=meta)


def sitk_series_info(path: Path, kind: str) -> SeriesInfo:
    """The one entry :func:`~core_models.io.list_series` gives for a single file."""
    reader = read_header(path, kind)
    size = reader.GetSize()
    return SeriesInfo("", f"{KIND_NAMES.get(kind, 'file')} {path.name}", int(size[2]) if len(size) > 2 else 1)


def write_image(image: sitk.Image, path: Path, compress: bool) -> Path:
    """Write a SimpleITK image atomically (temporary file, then rename)."""
    quiet_itk()
    with atomic_path(path) as tmp:
        writer = sitk.ImageFileWriter()
        writer.SetFileName(str(tmp))
        writer.SetUseCompression(compress)
        with itk_errors(path, doing="write"):
            writer.Execute(image)
    return path
