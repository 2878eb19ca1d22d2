"""Reading and writing label maps: NIfTI/NRRD/MHA, Slicer ``.seg.nrrd``, PNG masks.

Label maps are written in our values (0 background, 1 GGO, 2 consolidation)
or, with ``convention="seed"``, in the seed's PNG values (0 background,
1 lung, 2 GGO, 3 consolidation). They always carry their CT's geometry, so
they land on the CT in any viewer.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from core_models.errors import InputError
from core_models.io.align import paste_into_grid
from core_models.io.formats import IMAGE_SUFFIXES, SITK_SUFFIXES, check_exists, full_suffix
from core_models.io.guards import check_memory, check_shape
from core_models.io.label_png import png_names, read_label_folder, read_label_png, write_label_png
from core_models.io.seg_nrrd import parse_segments, seg_image, segments_to_labels
from core_models.io.sitk_files import describe, execute, geometry_of, read_header, write_image
from core_models.labels import check_label_values, from_seed, to_seed
from core_models.volume import CTVolume, Geometry, LabelMap

CONVENTIONS = ("ours", "seed")
LABEL_VOLUME_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".mha")


def _check_convention(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise InputError(f"unknown label convention '{convention}'; use one of {', '.join(CONVENTIONS)}")


def _values_to_write(labels: LabelMap, convention: str, lung: np.ndarray | None) -> np.ndarray:
    check_label_values(labels.array, what=labels.source or "label map")
    if convention == "ours":
        return labels.array
    if lung is not None and np.shape(lung) != labels.shape:
        raise InputError(f"lung mask shape {np.shape(lung)} differs from the label map's {labels.shape}")
    return to_seed(labels.array, lung)


def write_labels(labels: LabelMap, path: str | Path, *, convention: str = "ours",
                 lung: np.ndarray | None = None, slice_names: list[str] | None = None) -> list[Path]:
    """Write a label map; the target's name picks the format.

    Parameters
    ----------
    labels : the label map (its geometry is written along).
    path : ``.nii``/``.nii.gz``/``.nrrd``/``.mha`` (label volume), ``.seg.nrrd``
        (3D Slicer segmentation), ``.png`` (a one-slice map), or a folder (one PNG per slice).
    convention : ``"ours"`` (0 bg, 1 GGO, 2 consolidation) or ``"seed"`` (0 bg, 1 lung, 2 GGO, 3 consolidation).
    lung : boolean (z, y, x) lung mask, written as 1 where no lesion (seed convention only).
    slice_names : names of the PNG files in a folder (extension replaced by ``.png``).

    Returns
    -------
    The files written.
    """
    _check_convention(convention)
    target = Path(path)
    values = _values_to_write(labels, convention, lung)
    suffix = full_suffix(target)
    if suffix == ".seg.nrrd":
        image = labels.geometry.apply_to(seg_image(values, convention))
        return [write_image(image, target, compress=True)]
    if suffix in LABEL_VOLUME_SUFFIXES:
        image = labels.geometry.apply_to(sitk.GetImageFromArray(values))
        return [write_image(image, target, compress=True)]
    if suffix == ".png":
        if values.shape[0] != 1:
            raise InputError(f"a label map of {values.shape[0]} slices cannot go into one PNG; give a folder")
        return [write_label_png(values[0], target)]
    if target.is_dir() or not suffix:
        return [write_label_png(values[z], target / name)
                for z, name in enumerate(png_names(values.shape[0], slice_names))]
    raise InputError(f"cannot write labels to '{target.name}': use .nii, .nii.gz, .nrrd, .seg.nrrd, "
                     ".mha, .png or a folder")


def _label_array(view: np.ndarray, what: str) -> np.ndarray:
    """Stored label values as uint8; InputError for fractions or values outside 0-255."""
    if view.size == 0:
        return np.zeros(view.shape, dtype=np.uint8)
    lo, hi = view.min(), view.max()
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0 or hi > 255:
        raise InputError(f"{what} holds values {lo}..{hi}; label values must be whole numbers 0-255")
    if np.issubdtype(view.dtype, np.floating) and not np.array_equal(view, np.round(view)):
        raise InputError(f"{what} holds fractional values; a label map holds whole numbers")
    return np.array(view, dtype=np.uint8)


def _read_label_image(path: Path) -> tuple[np.ndarray, Geometry, bool]:
    """Label values and grid of a NIfTI/NRRD/MHA file; True when it is a Slicer segmentation."""
    kind = SITK_SUFFIXES.get(full_suffix(path), "itk")
    what = describe(path, kind)
    reader = read_header(path, kind)
    size = tuple(int(s) for s in reader.GetSize())
    check_shape(size, 1, what)
    check_memory(int(np.prod(size)) * (reader.GetNumberOfComponents() * 8 + 1), what)
    image = execute(reader, what)
    fields = {k: image.GetMetaData(k) for k in image.GetMetaDataKeys()}
    segments = parse_segments(fields)
    view = sitk.GetArrayViewFromImage(image)
    if view.ndim == 2 or (view.ndim == 3 and image.GetDimension() == 2):
        view = view[None]
    if segments:
        values = segments_to_labels(_label_array(view, what), segments, what)
    elif image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(f"{what} has several values per voxel; a label map has one")
    else:
        values = _label_array(view, what)
    return values, geometry_of(image, what), bool(segments)


def _fit_reference(values: np.ndarray, geometry: Geometry, reference: CTVolume | None,
                   what: str, has_grid: bool) -> tuple[np.ndarray, Geometry]:
    if reference is None:
        return values, geometry
    if values.shape == reference.shape:
        return values, reference.geometry if not has_grid else geometry
    if has_grid:
        return paste_into_grid(values, geometry, reference.shape, reference.geometry, what), reference.geometry
    raise InputError(f"{what} has shape {values.shape} but the CT has {reference.shape}")


def read_labels(path: str | Path, reference: CTVolume | None = None, *,
                convention: str = "ours") -> LabelMap:
    """Read a label map written by :func:`write_labels` (or by Slicer, ITK-SNAP, MedSeg...).

    Parameters
    ----------
    path : label volume, ``.seg.nrrd``, one PNG mask, or a folder of PNG masks.
    reference : the CT the labels belong to: the shape must match (a cropped
        Slicer segmentation on the same grid is placed into it) and PNG masks
        take its geometry and its slice order.
    convention : values stored as ``"ours"`` or ``"seed"``; ignored for
        ``.seg.nrrd``, whose segments are mapped by name.
    """
    _check_convention(convention)
    source = Path(path)
    check_exists(source)
    meta: dict = {"convention": convention}
    is_seg = False
    if source.is_dir():
        values, names = read_label_folder(source, (reference.meta.get("slice_files") if reference else None))
        meta["slice_files"] = names
        geometry, has_grid = Geometry(), False
    elif full_suffix(source) in IMAGE_SUFFIXES:
        values, geometry, has_grid = read_label_png(source)[None], Geometry(), False
    else:
        values, geometry, is_seg = _read_label_image(source)
        has_grid = True
    what = f"label map {source}"
    if convention == "seed" and not is_seg:
        values = from_seed(values)
    check_label_values(values, what=what)
    values, geometry = _fit_reference(values, geometry, reference, what, has_grid)
    meta["format"] = "seg.nrrd" if is_seg else ("png" if not has_grid else full_suffix(source).lstrip("."))
    return LabelMap(values, geometry, source=str(source), meta=meta)
