"""Slice file names: natural sort and the seed's naming convention.

The seed data names its PNG slices ``[Class]_[PatientID]_[ScanNum]_[SliceNum].png``
with class 0 Control, 1 common pneumonia (CP), 2 COVID-19; other sources
spell the class as a word (``Normal``, ``Pneumonia``, ``NCP``, ...). When
every file of a folder follows the convention the slices are ordered by
(patient, scan, slice); otherwise by natural order (``2.png`` before ``10.png``).
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

#: seed class id -> display name
CLASS_NAMES: dict[int, str] = {0: "Control", 1: "CP", 2: "COVID-19"}

_CLASS_TOKENS: dict[str, int] = {
    "0": 0, "control": 0, "normal": 0, "healthy": 0,
    "1": 1, "cp": 1, "pneumonia": 1,
    "2": 2, "covid": 2, "covid-19": 2, "covid19": 2, "ncp": 2,
}

_SEED_NAME = re.compile(r"^(?P<cls>[A-Za-z0-9-]+)_(?P<patient>[A-Za-z0-9-]+)_(?P<scan>\d+)_(?P<slice>\d+)$")
_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> list[object]:
    """Sort key that orders embedded numbers by value (``2.png`` < ``10.png``).

    ``re.split`` with a capture group alternates text and digits, so keys of
    different names always compare text with text and numbers with numbers.
    """
    parts = _DIGITS.split(name)
    return [int(p) if i % 2 else p.lower() for i, p in enumerate(parts)]


@dataclass(frozen=True)
class SeedSliceName:
    """Facts parsed from a seed-style slice file name."""

    file: str
    class_id: int
    class_name: str
    patient: str
    scan: int
    slice: int

    def to_json(self) -> dict:
        return asdict(self)


def parse_seed_name(file_name: str) -> SeedSliceName | None:
    """Parse ``[Class]_[PatientID]_[ScanNum]_[SliceNum].ext``; None when it does not fit."""
    match = _SEED_NAME.match(Path(file_name).stem)
    if not match:
        return None
    class_id = _CLASS_TOKENS.get(match["cls"].lower())
    if class_id is None:
        return None
    return SeedSliceName(file_name, class_id, CLASS_NAMES[class_id], match["patient"],
                         int(match["scan"]), int(match["slice"]))


def order_slice_files(names: list[str]) -> tuple[list[str], list[SeedSliceName] | None]:
    """Order slice file names for stacking along z.

    Returns
    -------
    (names in z order, parsed seed names in the same order or None) : seed
    order (patient, scan, slice) when every name follows the seed
    convention, natural order otherwise.
    """
    parsed = [parse_seed_name(n) for n in names]
    if names and all(p is not None for p in parsed):
        seeds = sorted((p for p in parsed if p is not None),
                       key=lambda p: (natural_key(p.patient), p.scan, p.slice, natural_key(p.file)))
        return [p.file for p in seeds], seeds
    return sorted(names, key=natural_key), None
