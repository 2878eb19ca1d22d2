"""Label masks as PNG: single-channel 8-bit files, one per slice.

Palette PNGs (as MedSeg ships them) are read by palette index; grey PNGs
by value; RGB masks whose colours are those of the label table are mapped
back to label values. JPEG masks are refused: lossy compression changes
label values at every edge.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from core_models.atomic import atomic_path
from core_models.errors import InputError
from core_models.io.formats import folder_files, full_suffix
from core_models.io.images import open_image
from core_models.io.names import order_slice_files
from core_models.labels import default_label_table


def _colour_mask(img: Image.Image, name: str) -> np.ndarray:
    rgb = np.asarray(img.convert("RGB"))
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
        return np.ascontiguousarray(rgb[..., 0])
    out = np.zeros(rgb.shape[:2], dtype=np.uint8)
    known = np.zeros(rgb.shape[:2], dtype=bool)
    for lab in default_label_table().labels:
        hit = np.all(rgb == np.array(lab.color, dtype=np.uint8), axis=-1)
        out[hit] = lab.value
        known |= hit
    if not known.all():
        raise InputError(f"{name} is a colour mask with colours that are not in the label table")
    return out


def read_label_png(path: Path) -> np.ndarray:
    """A 2D uint8 array of label values from one PNG mask."""
    if full_suffix(path) != ".png":
        raise InputError(f"{path}: label masks must be PNG files (JPEG is lossy and changes label values)")
    with open_image(path) as img:
        try:
            if img.mode in ("P", "L"):
                values = np.asarray(img)
            elif img.mode == "1":
                values = np.asarray(img, dtype=np.uint8)
            elif img.mode == "LA":
                values = np.ascontiguousarray(np.asarray(img)[..., 0])
            elif img.mode.startswith("I"):
                values = np.asarray(img)
            else:
                values = _colour_mask(img, str(path))
        except (OSError, SyntaxError, ValueError) as exc:
            raise InputError(f"{path} cannot be decoded ({exc})") from None
    if values.dtype != np.uint8:
        if values.size and (values.min() < 0 or values.max() > 255):
            raise InputError(f"{path} holds mask values outside 0-255")
        values = values.astype(np.uint8)
    return values


def _match_reference(names: list[str], reference_names: list[str] | None) -> list[str] | None:
    """Mask names ordered like the CT's slice files (matched by stem), or None."""
    if not reference_names or len(reference_names) != len(names):
        return None
    by_stem = {_strip_image_suffix(n): n for n in names}
    ordered = [by_stem.get(_strip_image_suffix(Path(r).name)) for r in reference_names]
    return ordered if all(ordered) else None  # type: ignore[return-value]


def read_label_folder(folder: Path, reference_names: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Stack a folder of PNG masks along z.

    Parameters
    ----------
    folder : folder of ``.png`` masks.
    reference_names : the CT's ``meta["slice_files"]``; masks named like them
        (same stem) follow their order, otherwise seed or natural order.

    Returns
    -------
    (uint8 (z, y, x) array, mask file names in z order)
    """
    files = folder_files(folder)
    names = [p.name for p in files if full_suffix(p) == ".png"]
    if not names:
        raise InputError(f"no PNG masks in {folder}")
    ordered = _match_reference(names, reference_names) or order_slice_files(names)[0]
    slices = []
    for name in ordered:
        mask = read_label_png(folder / name)
        if slices and mask.shape != slices[0].shape:
            raise InputError(f"mask {name} in {folder} is {mask.shape[1]}x{mask.shape[0]} pixels but "
                             f"{ordered[0]} is {slices[0].shape[1]}x{slices[0].shape[0]}")
        slices.append(mask)
    return np.stack(slices), ordered


def write_label_png(mask: np.ndarray, path: Path) -> Path:
    """Write a 2D uint8 mask as a single-channel 8-bit PNG, atomically."""
    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(mask, dtype=np.uint8)).save(tmp, format="PNG")
    return path


def _strip_image_suffix(name: str) -> str:
    """``a.png`` / ``a.jpg`` / ``a.dcm`` -> ``a``; other names (``case.001``) stay whole."""
    suffix = Path(name).suffix.lower()
    return name[: -len(suffix)] if suffix in (".png", ".jpg", ".jpeg", ".dcm", ".tif", ".tiff") else name


def png_names(n_slices: int, slice_names: list[str] | None) -> list[str]:
    """PNG file names for a folder of masks: the slice names with ``.png``, or ``slice_0000.png``."""
    if slice_names is None:
        return [f"slice_{z:04d}.png" for z in range(n_slices)]
    if len(slice_names) != n_slices:
        raise InputError(f"{len(slice_names)} slice names given for a label map of {n_slices} slices")
    names = [_strip_image_suffix(Path(n).name) + ".png" for n in slice_names]
    if len(set(names)) != len(names):
        raise InputError("slice names must be unique (after replacing the extension with .png)")
    return names
