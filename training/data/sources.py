"""Finding training slices: detect a data layout and list its slices as :class:`SliceRecord` s.

Layouts, checked in this order for each ``--data`` path:

``workspace``  a folder with ``review.json`` (a reviewer's corrections; see
               :mod:`training.data.workspace`); only accepted and corrected slices.
``phantom``    a folder with ``cases.json`` written by ``lesionloop phantom``
               (NIfTI volumes and label volumes; every slice).
``medseg``     a folder with ``images/N.jpg`` and ``masks/N.png`` (labels 0/1/2,
               8-bit display-windowed grey, not HU; sizes may vary per image).
``seed``       a folder with ``imgs/*.png`` and ``masks/*.png`` (the seed's masks:
               0 background, 1 lung, 2 GGO, 3 consolidation); the classifier class is
               read from ``[Class]_[PatientID]_[ScanNum]_[SliceNum].png``. A phantom's
               ``png/`` folder is this layout.
``volume``     a CT and its label volume: ``CT::LABELS`` (explicit pair), a CT file
               with ``<name>_labels.<ext>`` beside it, or a folder of such pairs.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from core_models.errors import InputError
from core_models.io import list_series
from core_models.io.formats import IMAGE_SUFFIXES, full_suffix
from core_models.io.names import natural_key, order_slice_files, parse_seed_name
from training.data.records import KIND_IMAGE, KIND_VOLUME, SliceRecord
from training.data.workspace import WORKSPACE_FILE, workspace_records

LAYOUTS: tuple[str, ...] = ("workspace", "phantom", "medseg", "seed", "volume")
PAIR_SEPARATOR = "::"
VOLUME_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".mha", ".mhd")
LABEL_TAG = "_labels"


def detect_layout(path: str | Path) -> str:
    """The layout of a ``--data`` entry (see the module docstring); :class:`InputError` if none fits."""
    text = str(path)
    if PAIR_SEPARATOR in text:
        return "volume"
    folder = Path(text).expanduser()
    if not folder.exists():
        raise InputError(f"data path {text} does not exist")
    if folder.is_file():
        if _labels_beside(folder) is not None:
            return "volume"
        raise InputError(f"{folder} is a single file; give a data folder, or a CT with its labels as CT{PAIR_SEPARATOR}LABELS "
                         f"(or put {_label_name(folder)} beside it)")
    for layout, probe in (("workspace", _is_workspace), ("phantom", _is_phantom), ("medseg", _is_medseg),
                          ("seed", _is_seed), ("volume", lambda f: bool(_volume_pairs(f)))):
        if probe(folder):
            return layout
    if (folder / "png" / "imgs").is_dir():
        return "seed"
    raise InputError(f"no training data layout recognised in {folder}: expected images/+masks/ (MedSeg), "
                     f"imgs/+masks/ (seed PNGs), cases.json (phantoms), {WORKSPACE_FILE} (review workspace) "
                     f"or CT volumes with *{LABEL_TAG} label volumes")


def list_records(path: str | Path) -> list[SliceRecord]:
    """Every slice of one ``--data`` entry, in a fixed order."""
    layout = detect_layout(path)
    if layout == "volume":
        records = _volume_records(str(path))
    else:
        folder = Path(path).expanduser()
        if layout == "seed" and not _is_seed(folder):
            folder = folder / "png"
        records = {"workspace": workspace_records, "phantom": _phantom_records, "medseg": _medseg_records,
                   "seed": _seed_records}[layout](folder)
    if not records:
        raise InputError(f"training data {path} ({layout} layout) holds no usable slices")
    return records


def collect_records(paths: Sequence[str | Path]) -> list[SliceRecord]:
    """The slices of several ``--data`` entries; :class:`InputError` if one slice appears twice."""
    if not paths:
        raise InputError("no training data given")
    records: list[SliceRecord] = []
    seen: dict[str, str] = {}
    for path in paths:
        for record in list_records(path):
            key = f"{record.image_path}|{record.series or ''}|{record.z}"
            if key in seen:
                raise InputError(f"slice {record.sample_id} is given twice (in {seen[key]} and {path})")
            seen[key] = str(path)
            records.append(record)
    return records


def _is_workspace(folder: Path) -> bool:
    return (folder / WORKSPACE_FILE).is_file()


def _is_phantom(folder: Path) -> bool:
    return (folder / "cases.json").is_file()


def _is_medseg(folder: Path) -> bool:
    return (folder / "images").is_dir() and (folder / "masks").is_dir()


def _is_seed(folder: Path) -> bool:
    return (folder / "imgs").is_dir() and (folder / "masks").is_dir()


def _files(folder: Path, suffixes: Sequence[str]) -> dict[str, Path]:
    """Visible files of ``folder`` with one of ``suffixes``, by stem."""
    out = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and not p.name.startswith(".") and full_suffix(p) in suffixes:
            out[p.name[: -len(full_suffix(p))]] = p
    return out


def _paired_images(folder: Path, image_dir: str) -> list[tuple[Path, Path]]:
    """(image, mask) pairs matched by stem; :class:`InputError` when any image lacks a mask."""
    images = _files(folder / image_dir, IMAGE_SUFFIXES)
    masks = _files(folder / "masks", (".png",))
    missing = sorted(set(images) - set(masks), key=natural_key)
    if missing:
        raise InputError(f"{len(missing)} image(s) in {folder / image_dir} have no mask in {folder / 'masks'} "
                         f"(e.g. {images[missing[0]].name})")
    return [(images[s], masks[s]) for s in sorted(images, key=natural_key)]


def _medseg_records(folder: Path) -> list[SliceRecord]:
    pairs = _paired_images(folder, "images")
    return [SliceRecord(f"{folder.name}/{img.name}", "medseg", KIND_IMAGE, str(img), str(mask))
            for img, mask in pairs]


def _seed_records(folder: Path) -> list[SliceRecord]:
    by_name = {img.name: (img, mask) for img, mask in _paired_images(folder, "imgs")}
    ordered, _ = order_slice_files(list(by_name))
    records = []
    for name in ordered:
        img, mask = by_name[name]
        parsed = parse_seed_name(name)
        records.append(SliceRecord(f"{folder.name}/{name}", "seed", KIND_IMAGE, str(img), str(mask),
                                   label_convention="seed", class_id=parsed.class_id if parsed else None))
    return records


def _phantom_records(folder: Path) -> list[SliceRecord]:
    try:
        manifest = json.loads((folder / "cases.json").read_text(encoding="utf-8"))
        cases = manifest["cases"]
        entries = [(c["image"], c["labels"], int(c["shape"][0]), c.get("class_id")) for c in cases]
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        raise InputError(f"{folder / 'cases.json'} is not a phantom manifest written by `lesionloop phantom`") from None
    records = []
    for image, labels, slices, class_id in entries:
        for z in range(slices):
            records.append(SliceRecord(f"{folder.name}/{image}#z={z}", "phantom", KIND_VOLUME, str(folder / image),
                                       str(folder / labels), z, class_id=class_id))
    return records


def _label_name(ct: Path) -> str:
    suffix = full_suffix(ct)
    return ct.name[: -len(suffix)] + LABEL_TAG + suffix if suffix else ct.name + LABEL_TAG


def _labels_beside(ct: Path) -> Path | None:
    if full_suffix(ct) not in VOLUME_SUFFIXES or ct.name[: -len(full_suffix(ct))].endswith(LABEL_TAG):
        return None
    candidate = ct.with_name(_label_name(ct))
    return candidate if candidate.is_file() else None


def _volume_pairs(folder: Path) -> list[tuple[Path, Path]]:
    pairs = []
    for p in sorted(folder.iterdir(), key=lambda q: natural_key(q.name)):
        labels = _labels_beside(p) if p.is_file() else None
        if labels is not None:
            pairs.append((p, labels))
    return pairs


def _volume_records(entry: str) -> list[SliceRecord]:
    if PAIR_SEPARATOR in entry:
        ct_text, _, labels_text = entry.partition(PAIR_SEPARATOR)
        pairs = [(Path(ct_text).expanduser(), Path(labels_text).expanduser())]
    else:
        path = Path(entry).expanduser()
        pairs = _volume_pairs(path) if path.is_dir() else [(path, _labels_beside(path))]
    records = []
    for ct, labels in pairs:
        for p in (ct, labels):
            if not p.exists():
                raise InputError(f"data path {p} does not exist")
        n = list_series(ct)[0].n_slices
        records += [SliceRecord(f"{ct.name}#z={z}", "volume", KIND_VOLUME, str(ct), str(labels), z)
                    for z in range(n)]
    return records
