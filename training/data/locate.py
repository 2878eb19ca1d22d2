"""Finding the shared MedSeg training slices on this machine.

The MedSeg COVID-19 slices (``images/N.jpg`` + ``masks/N.png``) are not in the
repository; they live in the shared data folder. :func:`find_medseg` looks, in
order, at

1. ``$LESIONLOOP_DATA/medseg_covid_slices/train``,
2. ``shared/data/medseg_covid_slices/train`` beside the repository
   (``../shared/data`` seen from the repository root),
3. ``/work/shared/data/medseg_covid_slices/train``.

Used by ``python -m training.recipe`` and ``bench/loop_gain.py``.
"""
from __future__ import annotations

import os
from pathlib import Path

from core_models.errors import InputError

#: the MedSeg training slices inside a shared data folder
MEDSEG_SUBPATH = Path("medseg_covid_slices") / "train"
_REPO = Path(__file__).resolve().parents[2]


def medseg_candidates() -> list[Path]:
    """The folders :func:`find_medseg` tries when no folder is given, in order."""
    roots = [os.environ.get("LESIONLOOP_DATA"), _REPO.parent / "shared" / "data", "/work/shared/data"]
    return [Path(root) / MEDSEG_SUBPATH for root in roots if root]


def is_medseg_folder(folder: str | os.PathLike[str]) -> bool:
    """True when ``folder`` has the MedSeg layout's ``images/`` and ``masks/`` sub-folders."""
    return (Path(folder) / "images").is_dir() and (Path(folder) / "masks").is_dir()


def find_medseg(given: str | os.PathLike[str] | None = None) -> Path:
    """The MedSeg training slices: ``given`` when given, else the first shared copy found.

    Parameters
    ----------
    given : folder with ``images/`` and ``masks/``, or None to search :func:`medseg_candidates`.

    Raises
    ------
    InputError
        When ``given`` is not a MedSeg folder (it is never silently replaced by
        another one), or when no shared copy is found.
    """
    if given is not None and str(given):
        if not is_medseg_folder(given):
            raise InputError(f"{given} is not a MedSeg folder (it needs images/ and masks/)")
        return Path(given)
    for folder in medseg_candidates():
        if is_medseg_folder(folder):
            return folder
    raise InputError("MedSeg slices not found (set LESIONLOOP_DATA, or give a folder with images/ and masks/)")
