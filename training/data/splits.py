"""Train/validation splits and the training data hash.

The named split ``medseg-split`` is the one of ``BASELINES.md``: within each
MedSeg folder, slices sorted by their numeric file name, index ``i % 5 == 0``
is validation (files 0, 5, 14, 20, 27, 32, 39, 44, 50, 55 of the MedSeg
training slices), the others train. Slices of other layouts all train.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path

from core_models.errors import InputError
from core_models.io.names import natural_key
from training.data.records import SliceReader, SliceRecord

MEDSEG_FOLD = 5


def medseg_split(records: Sequence[SliceRecord]) -> tuple[list[SliceRecord], list[SliceRecord]]:
    """(train, validation) records by the BASELINES rule; :class:`InputError` without MedSeg slices."""
    by_folder: dict[str, list[SliceRecord]] = {}
    for record in records:
        if record.layout == "medseg":
            by_folder.setdefault(str(Path(record.image_path).parent), []).append(record)
    if not by_folder:
        raise InputError("--val medseg-split needs MedSeg data (a folder with images/ and masks/) in --data")
    val_ids: set[str] = set()
    for folder_records in by_folder.values():
        ordered = sorted(folder_records, key=lambda r: natural_key(Path(r.image_path).name))
        val_ids.update(r.sample_id for i, r in enumerate(ordered) if i % MEDSEG_FOLD == 0)
    train = [r for r in records if r.sample_id not in val_ids]
    val = [r for r in records if r.sample_id in val_ids]
    val.sort(key=lambda r: natural_key(Path(r.image_path).name))
    return train, val


def data_hash(records: Iterable[SliceRecord], reader: SliceReader) -> str:
    """SHA-256 over the sorted slice ids and their label bytes (``sha256:`` + 16 hex digits).

    The ids are machine-independent (folder name + file name + slice), so the
    same data gives the same hash on another computer.
    """
    digest = hashlib.sha256()
    for record in sorted(records, key=lambda r: r.sample_id):
        labels = reader.labels(record)
        digest.update(record.sample_id.encode("utf-8"))
        digest.update(repr(labels.shape).encode("ascii"))
        digest.update(labels.tobytes())
    return "sha256:" + digest.hexdigest()[:16]
