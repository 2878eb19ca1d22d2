"""Benchmark: LesionLoop's ``read_volume`` against a bare SimpleITK series read.

Loads the RICORD series (255 slices of 512², JPEG-Lossless) alternately with
``core_models.io.read_volume`` and with a plain ``ImageSeriesReader`` (GDCM
file names, ``Execute``, ``GetArrayFromImage``), ``--repeats`` times each, and
prints both medians and their ratio. Target: ratio <= 1.2.

Usage: ``python bench/load_series.py [FOLDER] [--repeats 5]``
(FOLDER defaults to ``$LESIONLOOP_DATA`` or ``../shared/data``, ``ricord_covid_chest_ct``).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import SimpleITK as sitk

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core_models.io import read_volume  # noqa: E402


def default_folder() -> Path:
    """The RICORD series in the shared data folder."""
    for base in (os.environ.get("LESIONLOOP_DATA"), REPO.parent / "shared" / "data", "/work/shared/data"):
        if base and Path(base, "ricord_covid_chest_ct").is_dir():
            return Path(base, "ricord_covid_chest_ct")
    raise SystemExit("RICORD series not found; pass its folder or set LESIONLOOP_DATA")


def bare_read(folder: Path) -> tuple[int, ...]:
    """What a script using SimpleITK directly would do."""
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
    array = sitk.GetArrayFromImage(reader.Execute())
    return array.shape


def ours_read(folder: Path) -> tuple[int, ...]:
    return read_volume(folder).shape


def timed(func, folder: Path) -> float:  # noqa: ANN001 - a reader above
    start = time.perf_counter()
    func(folder)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    folder = args.folder or default_folder()
    shape = ours_read(folder)  # warm the file cache for both readers alike
    bare_read(folder)
    ours, bare = [], []
    for _ in range(args.repeats):
        ours.append(timed(ours_read, folder))
        bare.append(timed(bare_read, folder))
    m_ours, m_bare = statistics.median(ours), statistics.median(bare)
    print(f"series: {folder} shape {shape}")
    print(f"read_volume        median {m_ours:.3f} s  ({', '.join(f'{t:.3f}' for t in ours)})")
    print(f"bare SimpleITK     median {m_bare:.3f} s  ({', '.join(f'{t:.3f}' for t in bare)})")
    print(f"ratio read_volume / bare = {m_ours / m_bare:.2f} (target <= 1.20)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
