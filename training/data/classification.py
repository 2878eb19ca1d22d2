"""Slices with an image class for classification module S (0 Control, 1 common pneumonia, 2 COVID-19).

Where the class of a slice comes from:

- the seed's file naming ``[Class]_[PatientID]_[ScanNum]_[SliceNum].png``
  (:func:`core_models.io.names.parse_seed_name`; the class may also be a word
  such as ``Normal``, ``CP``, ``NCP``): a folder of such images, or their
  ``imgs/`` sub-folder (the seed's layout; ``masks/`` beside it is optional,
  as in the seed's classification data, which has none);
- phantom metadata: a folder written by ``lesionloop phantom`` (``cases.json``
  gives each case's class: normal → Control, cap → common pneumonia,
  covid → COVID-19); its ``png/`` slices are phantom data too;
- any other training layout whose records carry a class (see
  :mod:`training.data.sources`).

With ``lesion_slices_only`` (the default), slices of CP and COVID-19 cases
whose label map holds no lesion are left out: they show nothing of their
class, and the series aggregate of inference averages only over slices with
lesions. Slices without labels are always kept.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core_models.errors import InputError
from core_models.io import read_volume
from core_models.io.formats import IMAGE_SUFFIXES, full_suffix
from core_models.io.names import natural_key, parse_seed_name
from core_models.model_spec import Preprocessing, preprocess_slice
from training.data.records import KIND_IMAGE, SliceReader, SliceRecord
from training.data.sources import detect_layout, list_records

#: the layout name of a folder of seed-named images without masks
CLASS_NAMED = "class-named"
PHANTOM = "phantom"
NAMING = "[Class]_[PatientID]_[ScanNum]_[SliceNum].png"


@dataclass
class ClassData:
    """Classification slices of one or more ``--data`` entries.

    Attributes
    ----------
    records : slices kept, each with ``class_id`` set.
    dropped : CP / COVID-19 slices left out because their labels hold no lesion.
    """

    records: list[SliceRecord]
    dropped: int = 0

    def class_counts(self) -> list[int]:
        """Slices per class (Control, CP, COVID-19)."""
        counts = [0, 0, 0]
        for record in self.records:
            counts[int(record.class_id)] += 1
        return counts


def _image_files(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                   and full_suffix(p) in IMAGE_SUFFIXES), key=lambda p: natural_key(p.name))


def _named_image_folder(folder: Path) -> Path | None:
    """The folder holding seed-named images: ``folder``, ``folder/imgs`` or ``folder/png/imgs``."""
    for cand in (folder, folder / "imgs", folder / "png" / "imgs"):
        if cand.is_dir() and _image_files(cand):
            return cand
    return None


def _is_phantom_png(images: Path) -> bool:
    """True for ``PHANTOM/png/imgs`` of a ``lesionloop phantom`` folder."""
    manifest = images.parent.parent / "cases.json"
    if images.name != "imgs" or images.parent.name != "png" or not manifest.is_file():
        return False
    try:
        return "phantom" in str(json.loads(manifest.read_text(encoding="utf-8")).get("generator", ""))
    except (OSError, ValueError, AttributeError):
        return False


def class_named_records(folder: str | Path) -> list[SliceRecord]:
    """Records of a folder of images named by the seed's convention (masks optional).

    Raises
    ------
    InputError
        When the folder holds no images or any image name does not follow the naming.
    """
    images = _named_image_folder(Path(folder).expanduser())
    if images is None:
        raise InputError(f"{folder} holds no PNG/JPG images (directly, in imgs/ or in png/imgs/)")
    files = _image_files(images)
    parsed = [parse_seed_name(p.name) for p in files]
    bad = [p.name for p, q in zip(files, parsed) if q is None]
    if bad:
        raise InputError(f"{len(bad)} image(s) in {images} do not follow the seed's naming {NAMING} with class "
                         f"0/1/2 (e.g. {bad[0]}); the class of a slice comes from its name")
    layout = PHANTOM if _is_phantom_png(images) else CLASS_NAMED
    masks = images.parent / "masks"
    records = []
    for path, name in zip(files, parsed):
        mask = masks / path.name
        records.append(SliceRecord(f"{images.parent.name}/{path.name}", layout, KIND_IMAGE, str(path),
                                   str(mask) if mask.is_file() else "", label_convention="seed",
                                   class_id=name.class_id))
    return records


def records_with_classes(path: str | Path) -> list[SliceRecord]:
    """The classification slices of one ``--data`` entry (see the module docstring)."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise InputError(f"data path {path} does not exist")
    if folder.is_dir() and not (folder / "cases.json").is_file() and _named_image_folder(folder) is not None:
        return class_named_records(folder)
    records = list_records(path)
    missing = [r for r in records if r.class_id is None]
    if missing:
        raise InputError(f"{path} ({detect_layout(path)} layout) gives no image class for {len(missing)} slice(s) "
                         f"(e.g. {missing[0].sample_id}): name the images {NAMING} or use `lesionloop phantom` data")
    return records


def has_lesion(record: SliceRecord, reader: SliceReader) -> bool | None:
    """Whether the slice's labels hold GGO or consolidation; None when it has no labels."""
    if not record.label_path:
        return None
    return bool(np.any(reader.labels(record) > 0))


def collect_class_data(paths: Sequence[str | Path], reader: SliceReader, *,
                       lesion_slices_only: bool = True) -> ClassData:
    """Classification slices of several ``--data`` entries; :class:`InputError` on repeats or none."""
    if not paths:
        raise InputError("no classification data given (--data PATH ...)")
    kept: list[SliceRecord] = []
    seen: set[tuple[str, int]] = set()
    dropped = 0
    for path in paths:
        for record in records_with_classes(path):
            key = (record.image_path, record.z)
            if key in seen:
                raise InputError(f"slice {record.sample_id} is given twice")
            seen.add(key)
            if lesion_slices_only and record.class_id != 0 and has_lesion(record, reader) is False:
                dropped += 1
                continue
            kept.append(record)
    if not kept:
        raise InputError(f"no usable classification slices in {', '.join(map(str, paths))}")
    return ClassData(kept, dropped)


def trained_on(records: Sequence[SliceRecord]) -> str:
    """What the spec records as S's training data: ``phantom`` when every slice is synthetic."""
    kinds = sorted({r.layout for r in records}, key=lambda k: (k != PHANTOM, k))
    if kinds == [PHANTOM]:
        return PHANTOM
    names = {PHANTOM: "synthetic phantoms", CLASS_NAMED: "seed-named slices", "seed": "seed-named slices"}
    return " and ".join(dict.fromkeys(names.get(k, f"{k} slices") for k in kinds))


def class_data_hash(records: Sequence[SliceRecord]) -> str:
    """SHA-256 over the sorted (slice id, class) pairs (``sha256:`` + 16 hex digits)."""
    digest = hashlib.sha256()
    for record in sorted(records, key=lambda r: r.sample_id):
        digest.update(f"{record.sample_id}\t{record.class_id}\n".encode("utf-8"))
    return "sha256:" + digest.hexdigest()[:16]


class ClassImageLoader:
    """Model input ``(3, H, W)`` in [0, 1] for a record, with the spec's preprocessing."""

    def __init__(self, prep: Preprocessing, reader: SliceReader | None = None) -> None:
        self.prep = prep
        self.reader = reader or SliceReader(prep)

    def image(self, record: SliceRecord) -> torch.Tensor:
        """The slice windowed (HU) or divided by 255 (8-bit), replicated to three channels."""
        if record.label_path:
            sample = self.reader.load(record)
            raw, is_hu = sample.raw, sample.is_hu
        else:
            volume = read_volume(record.image_path)
            raw, is_hu = volume.array[0], volume.is_hu
        return preprocess_slice(raw, self.prep, is_hu=is_hu)
