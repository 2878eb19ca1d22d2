"""Training slices: where one comes from (:class:`SliceRecord`) and what it holds (:class:`Sample`).

A record is cheap (paths and an index); :class:`SliceReader` turns it into a
:class:`Sample` on demand: the stored pixels (``raw``: Hounsfield units or
8-bit grey), the image mapped to [0, 1] exactly as
:func:`core_models.model_spec.preprocess_slice` maps it (lung window for HU,
÷255 for 8-bit grey), and the labels in our convention (0 background, 1 GGO,
2 consolidation). Volumes are read whole and kept in a small LRU cache, so a
loader that visits the slices of one volume reads its file once.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core_models.errors import InputError
from core_models.io import read_labels, read_volume
from core_models.io.label_png import read_label_png
from core_models.labels import check_label_values, from_seed
from core_models.model_spec import Preprocessing, preprocess_slice
from core_models.volume import CTVolume, Geometry, LabelMap

#: record kinds: 2D image + PNG mask, or one slice of a volume + label volume
KIND_IMAGE = "image"
KIND_VOLUME = "volume"


@dataclass(frozen=True)
class SliceRecord:
    """One 2D training slice.

    Attributes
    ----------
    sample_id : stable, machine-independent id (``medseg/12.jpg``, ``case_000.nii.gz#z=17``).
    layout : the data layout it was found in (``medseg``, ``seed``, ``volume``, ``phantom``, ``workspace``).
    kind : ``image`` (one PNG/JPG + one PNG mask) or ``volume`` (slice ``z`` of a CT + labels).
    image_path, label_path : files (or DICOM folder) to read.
    z : slice index for volumes; 0 for 2D images.
    label_convention : ``ours`` (0/1/2) or ``seed`` (0 bg, 1 lung, 2 GGO, 3 consolidation).
    class_id : the seed classifier's class (0 Control, 1 CP, 2 COVID-19) when known.
    series : DICOM SeriesInstanceUID to read when ``image_path`` is a folder with several
        series (None: the largest).
    """

    sample_id: str
    layout: str
    kind: str
    image_path: str
    label_path: str
    z: int = 0
    label_convention: str = "ours"
    class_id: int | None = None
    series: str | None = None


@dataclass
class Sample:
    """A loaded slice.

    Attributes
    ----------
    image : float32 (H, W) in [0, 1] (lung window for HU, ÷255 for 8-bit).
    labels : uint8 (H, W): 0 background, 1 GGO, 2 consolidation.
    raw : int16 (H, W) as stored: HU when ``is_hu``, else 8-bit grey.
    is_hu : whether ``raw`` holds Hounsfield units.
    spacing_mm : (row, column) pixel spacing in mm (1.0 for plain images).
    record : where it came from.
    """

    image: np.ndarray
    labels: np.ndarray
    raw: np.ndarray
    is_hu: bool
    spacing_mm: tuple[float, float]
    record: SliceRecord
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def sample_id(self) -> str:
        return self.record.sample_id

    def as_volume(self) -> CTVolume:
        """The slice as a one-slice :class:`CTVolume` (for :mod:`core_models.inference`)."""
        return CTVolume(self.raw[None].astype(np.int16, copy=False),
                        Geometry(spacing=(1.0, *self.spacing_mm)), modality="CT" if self.is_hu else "OT",
                        is_hu=self.is_hu, source=self.sample_id)


class SliceReader:
    """Loads :class:`Sample` objects from records, caching whole volumes.

    Parameters
    ----------
    prep : the model's preprocessing (window for HU input).
    cache_volumes : how many (CT, labels) volume pairs to keep in memory.
    """

    def __init__(self, prep: Preprocessing, cache_volumes: int = 8) -> None:
        self.prep = prep
        self.cache_volumes = max(1, int(cache_volumes))
        self._volumes: OrderedDict[tuple[str, str | None, str, str], tuple[CTVolume, LabelMap]] = OrderedDict()

    def load(self, record: SliceRecord) -> Sample:
        """Read one record; :class:`InputError` on unreadable files or mismatched sizes."""
        if record.kind == KIND_IMAGE:
            raw, is_hu, labels, spacing = self._image(record)
        elif record.kind == KIND_VOLUME:
            raw, is_hu, labels, spacing = self._volume_slice(record)
        else:
            raise InputError(f"unknown record kind {record.kind!r} for {record.sample_id}")
        image = preprocess_slice(raw, self.prep, is_hu=is_hu)[0].numpy()
        return Sample(image, labels, raw, is_hu, spacing, record)

    def labels(self, record: SliceRecord) -> np.ndarray:
        """Only the labels of a record (our convention)."""
        return self.load(record).labels

    def _image(self, record: SliceRecord) -> tuple[np.ndarray, bool, np.ndarray, tuple[float, float]]:
        volume = read_volume(record.image_path)
        raw = volume.array[0]
        labels = _convert_labels(read_label_png(Path(record.label_path)), record)
        if labels.shape != raw.shape:
            raise InputError(f"mask {record.label_path} is {labels.shape[1]}x{labels.shape[0]} pixels but image "
                             f"{record.image_path} is {raw.shape[1]}x{raw.shape[0]}")
        return raw, volume.is_hu, labels, (float(volume.spacing[1]), float(volume.spacing[2]))

    def _volume_slice(self, record: SliceRecord) -> tuple[np.ndarray, bool, np.ndarray, tuple[float, float]]:
        volume, labels = self._pair(record)
        if not 0 <= record.z < volume.shape[0]:
            raise InputError(f"{record.sample_id}: slice {record.z} is outside the volume ({volume.shape[0]} slices)")
        spacing = (float(volume.spacing[1]), float(volume.spacing[2]))
        return volume.array[record.z], volume.is_hu, labels.array[record.z], spacing

    def _pair(self, record: SliceRecord) -> tuple[CTVolume, LabelMap]:
        key = (record.image_path, record.series, record.label_path, record.label_convention)
        if key in self._volumes:
            self._volumes.move_to_end(key)
            return self._volumes[key]
        volume = read_volume(record.image_path, series=record.series)
        labels = read_labels(record.label_path, reference=volume, convention=record.label_convention)
        self._volumes[key] = (volume, labels)
        while len(self._volumes) > self.cache_volumes:
            self._volumes.popitem(last=False)
        return volume, labels


def _convert_labels(mask: np.ndarray, record: SliceRecord) -> np.ndarray:
    what = f"mask {record.label_path}"
    if record.label_convention == "seed":
        return from_seed(mask)
    check_label_values(mask, what=what)
    return mask.astype(np.uint8, copy=False)
