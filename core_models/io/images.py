"""PNG/JPG slices: one image, or a folder of them stacked along z.

Plain images carry no Hounsfield units: 8-bit grey values 0-255 are kept
as they are (``is_hu=False``, modality ``OT``) and the grid is 1 mm
isotropic. Colour images whose channels are equal are taken as grey (a
JPEG may differ by a few levels from its lossy chroma); true colour is
refused.
"""
from __future__ import annotations

import warnings as _warnings
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from core_models.errors import InputError, ResourceError
from core_models.io.guards import check_memory
from core_models.io.names import order_slice_files
from core_models.io.pixels import to_int16
from core_models.io.series import SeriesInfo
from core_models.volume import CTVolume, Geometry

_DIRECT_MODES = ("L", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")
#: a JPEG pixel counts as grey when its channels differ by at most this many levels
_JPEG_CHROMA_TOLERANCE = 8


def open_image(path: Path) -> Image.Image:
    """Open an image lazily (header only); InputError when Pillow cannot identify it."""
    try:
        with _warnings.catch_warnings():
            _warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ResourceError(f"{path} declares an image too large to read safely") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise InputError(f"{path} is not a readable PNG/JPG image") from None


def _colour_to_grey(img: Image.Image, name: str) -> np.ndarray:
    has_alpha = "A" in img.mode or "transparency" in img.info
    rgb = np.asarray(img.convert("RGBA" if has_alpha else "RGB"))[..., :3]
    spread = rgb.max(axis=-1).astype(np.int16) - rgb.min(axis=-1)
    tolerance = _JPEG_CHROMA_TOLERANCE if img.format == "JPEG" else 0
    if np.count_nonzero(spread > tolerance) > (spread.size // 1000 if tolerance else 0):
        raise InputError(f"{name} is a colour image; LesionLoop reads grey-scale slices")
    if tolerance:
        return np.asarray(img.convert("L"))
    return np.ascontiguousarray(rgb[..., 0])


def grey_pixels(img: Image.Image, name: str) -> np.ndarray:
    """Decode an opened image into a 2D grey array (uint8 for 8-bit images)."""
    try:
        if img.mode in _DIRECT_MODES:
            return np.asarray(img)
        if img.mode == "1":
            return np.asarray(img, dtype=np.uint8) * np.uint8(255)
        if img.mode == "LA":
            return np.ascontiguousarray(np.asarray(img)[..., 0])
        return _colour_to_grey(img, name)
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{name} cannot be decoded ({exc})") from None


def _slice_to_int16(pixels: np.ndarray, name: str) -> tuple[np.ndarray, list[str]]:
    if pixels.dtype == np.uint8:
        return pixels, []
    array, notes = to_int16(pixels[None], name)
    return array[0], [f"{name}: {n}" for n in notes]


def _image_volume(array: np.ndarray, source: str, meta: dict) -> CTVolume:
    info = SeriesInfo("", meta["format_name"], array.shape[0])
    meta = {k: v for k, v in meta.items() if k != "format_name"}
    meta["series"] = [info.to_json(chosen=True)]
    return CTVolume(array, Geometry(), modality="OT", is_hu=False, source=source, meta=meta)


def read_image_file(path: Path) -> CTVolume:
    """One PNG/JPG slice as a (1, rows, cols) volume."""
    with open_image(path) as img:
        check_memory(img.size[0] * img.size[1] * 8, str(path))
        pixels, notes = _slice_to_int16(grey_pixels(img, str(path)), path.name)
    _, seeds = order_slice_files([path.name])
    meta = {"format": "image", "format_name": f"image {path.name}", "warnings": notes,
            "slice_files": [path.name]}
    if seeds:
        meta["slices"] = [s.to_json() for s in seeds]
    return _image_volume(pixels.astype(np.int16)[None], f"image {path}", meta)


def _common_size(folder: Path, names: list[str]) -> tuple[int, int]:
    """The size (width, height) all slices share; InputError naming an odd one."""
    sizes = []
    for name in names:
        with open_image(folder / name) as img:
            sizes.append(img.size)
    counts = Counter(sizes)
    common, n_common = counts.most_common(1)[0]
    if n_common == len(sizes):
        return common
    if n_common * 2 > len(sizes):
        odd = next(i for i, size in enumerate(sizes) if size != common)
        raise InputError(f"slice {names[odd]} in {folder} is {_wh(sizes[odd])} pixels but the other "
                         f"slices are {_wh(common)}; all slices must have one size")
    other = next(i for i, size in enumerate(sizes) if size != sizes[0])
    raise InputError(f"slices in {folder} have {len(counts)} different sizes ({names[0]} is {_wh(sizes[0])}, "
                     f"{names[other]} is {_wh(sizes[other])}); all slices must have one size")


def _wh(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def read_image_folder(folder: Path, files: list[Path]) -> CTVolume:
    """A folder of PNG/JPG slices, ordered by seed naming or naturally, as one volume."""
    names, seeds = order_slice_files([p.name for p in files])
    width, height = _common_size(folder, names)
    check_memory(len(names) * width * height * 2 + width * height * 8, f"image folder {folder}")
    array = np.empty((len(names), height, width), dtype=np.int16)
    notes: list[str] = []
    for z, name in enumerate(names):
        with open_image(folder / name) as img:
            pixels, extra = _slice_to_int16(grey_pixels(img, name), name)
        array[z] = pixels
        notes += extra
    meta = {"format": "image-folder", "format_name": f"{len(names)} PNG/JPG slices",
            "warnings": notes, "slice_files": names}
    if seeds:
        meta["slices"] = [s.to_json() for s in seeds]
    naming = ", seed naming" if seeds else ""
    return _image_volume(array, f"folder of {len(names)} PNG/JPG slices{naming} in {folder}", meta)


def image_series_info(path: Path, files: list[Path] | None = None) -> SeriesInfo:
    """The one entry :func:`~core_models.io.list_series` gives for images."""
    if files is None:
        return SeriesInfo("", f"image {path.name}", 1)
    return SeriesInfo("", f"{len(files)} PNG/JPG slices", len(files))
