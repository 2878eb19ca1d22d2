"""Write a series of phantom cases: NIfTI volumes and labels, a manifest, optional PNG slices.

Layout of ``out_dir``::

    cases.json                      manifest: settings, and per case its files and facts
    case_000.nii.gz                 int16 HU volume
    case_000_labels.nii.gz          uint8 labels: 0 background, 1 GGO, 2 consolidation
    case_000_seed_labels.nii.gz     uint8 seed convention: 0 bg, 1 lung, 2 GGO, 3 consolidation
    png/imgs/{cls}_{patient}_{scan}_{slice}.png    8-bit lung window (W1500/L-600)   (--png)
    png/masks/{cls}_{patient}_{scan}_{slice}.png   seed convention mask               (--png)

``cls`` is the seed's class id (0 Control, 1 common pneumonia, 2 COVID-19),
``patient`` the case index, ``scan`` 0, ``slice`` the z index (0 = lowest).
Nothing time- or machine-dependent is written: the same seed gives the same bytes.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from core_models import __version__
from core_models.atomic import atomic_path, atomic_write_json
from core_models.errors import InputError, ResourceError
from core_models.io import write_labels, write_volume
from core_models.phantom.case import generate_case
from core_models.phantom.config import PhantomConfig, check_case_request
from core_models.volume import CTVolume, LabelMap

#: lung window used for the PNG slices (HU)
LUNG_WINDOW = (1500.0, -600.0)

Progress = Callable[[int, int, str], None]


def lung_window_u8(hu: np.ndarray, width: float = LUNG_WINDOW[0], level: float = LUNG_WINDOW[1]) -> np.ndarray:
    """HU -> 8-bit grey through a window (default lung: W1500 / L-600)."""
    lo = level - width / 2.0
    scaled = (np.asarray(hu, dtype=np.float32) - np.float32(lo)) * np.float32(255.0 / width)
    return np.rint(np.clip(scaled, 0.0, 255.0)).astype(np.uint8)


def png_name(class_id: int, patient: int, scan: int, slice_index: int) -> str:
    """The seed's slice file name ``{cls}_{patient}_{scan}_{slice}.png``."""
    return f"{class_id}_{patient:03d}_{scan}_{slice_index:03d}.png"


def write_phantoms(out_dir: str | os.PathLike[str], cases: int, seed: int, config: PhantomConfig,
                   png: bool = False, progress: Progress | None = None) -> dict[str, Any]:
    """Generate cases ``0 .. cases-1`` of the series ``seed`` and write them to ``out_dir``.

    Parameters
    ----------
    out_dir : output folder (created if missing).
    cases : number of cases (>= 1).
    seed : series seed (>= 0).
    config : grid, class and scanner settings.
    png : also write 8-bit PNG slices and seed-convention masks in the seed's layout.
    progress : optional ``callable(done, total, message)``, called after each case.

    Returns
    -------
    The manifest also written to ``out_dir/cases.json``.
    """
    check_case_request(cases, seed)
    out = prepare_folder(out_dir)
    manifest: dict[str, Any] = {
        "generator": f"lesionloop {__version__} phantom", "seed": seed, "config": config.to_json(),
        "labels": {"0": "background", "1": "ground-glass opacity", "2": "consolidation"},
        "seed_labels": {"0": "background", "1": "lung", "2": "ground-glass opacity", "3": "consolidation"},
        "png_window": {"width": LUNG_WINDOW[0], "level": LUNG_WINDOW[1]} if png else None,
        "cases": [],
    }
    for index in range(cases):
        volume, labels, meta = generate_case(index, seed, config)
        manifest["cases"].append(write_case(out, index, volume, labels, meta, png))
        if progress is not None:
            progress(index + 1, cases, f"case_{index:03d} ({meta['kind']}, {meta['lesion_count']} lesions)")
    _guard(lambda: atomic_write_json(out / "cases.json", manifest), out / "cases.json")
    return manifest


def prepare_folder(out_dir: str | os.PathLike[str]) -> Path:
    """Create ``out_dir`` if needed; :class:`InputError` if it cannot be written to."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"output path {out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create output folder {out}: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise InputError(f"output folder {out} is not writable")
    return out


def write_case(out: Path, index: int, volume: CTVolume, labels: LabelMap, meta: dict[str, Any],
               png: bool) -> dict[str, Any]:
    """Write one case's files; return its manifest entry."""
    stem = f"case_{index:03d}"
    lung = meta["lung_mask"]
    entry = {k: v for k, v in meta.items() if k != "lung_mask"}
    entry.update(image=f"{stem}.nii.gz", labels=f"{stem}_labels.nii.gz", seed_labels=f"{stem}_seed_labels.nii.gz")
    _guard(lambda: write_volume(volume, out / entry["image"]), out / entry["image"])
    _guard(lambda: write_labels(labels, out / entry["labels"]), out / entry["labels"])
    _guard(lambda: write_labels(labels, out / entry["seed_labels"], convention="seed", lung=lung),
           out / entry["seed_labels"])
    if png:
        names = [png_name(meta["class_id"], index, 0, z) for z in range(volume.shape[0])]
        write_png_slices(out / "png", volume.array, labels, lung, names)
        entry["png"] = {"imgs": [f"png/imgs/{n}" for n in names], "masks": [f"png/masks/{n}" for n in names]}
    return entry


def write_png_slices(folder: Path, hu: np.ndarray, labels: LabelMap, lung: np.ndarray, names: list[str]) -> None:
    """Lung-window slices to ``folder/imgs`` and seed-convention masks to ``folder/masks``."""
    for z, name in enumerate(names):
        target = folder / "imgs" / name
        _guard(lambda: _write_grey_png(lung_window_u8(hu[z]), target), target)
    _guard(lambda: write_labels(labels, folder / "masks", convention="seed", lung=lung, slice_names=names),
           folder / "masks")


def _write_grey_png(image: np.ndarray, path: Path) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(tmp, format="PNG")


def _guard(write: Callable[[], Any], path: Path) -> None:
    """Run a write; turn file-system failures into one-line errors."""
    try:
        write()
    except OSError as exc:
        if getattr(exc, "errno", None) == 28:
            raise ResourceError(f"no space left on the device while writing {path}") from None
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
