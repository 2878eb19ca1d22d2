"""Synthetic chest CT phantoms with exact lesion labels.

``generate_case(index, seed, config)`` returns an int16 HU volume, a label
map (0 background, 1 ground-glass opacity, 2 consolidation) and the case's
facts; ``write_phantoms`` writes a series of cases as NIfTI (and optionally
as 8-bit PNG slices in the seed's layout). The same seed gives the same
bytes; every case index gives a different patient.
"""
from __future__ import annotations

from core_models.phantom.case import generate_case
from core_models.phantom.config import CLASS_IDS, CLASS_NAMES, KINDS, PhantomConfig
from core_models.phantom.writer import lung_window_u8, png_name, write_phantoms

__all__ = [
    "CLASS_IDS",
    "CLASS_NAMES",
    "KINDS",
    "PhantomConfig",
    "generate_case",
    "lung_window_u8",
    "png_name",
    "write_phantoms",
]
