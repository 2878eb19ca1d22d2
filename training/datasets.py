"""Training datasets: every source of labelled 2D slices LesionLoop can train on.

Each ``--data`` path is detected as one layout (:func:`detect_layout`):

- ``medseg``: ``DIR/images/N.jpg`` + ``DIR/masks/N.png`` (labels 0/1/2; 8-bit
  display-windowed grey, not HU; sizes vary);
- ``seed``: ``DIR/imgs/*.png`` + ``DIR/masks/*.png`` in the seed's mask
  convention (0 bg, 1 lung, 2 GGO, 3 consolidation → ours with
  :func:`core_models.labels.from_seed`); the classifier class comes from the
  name ``[Class]_[PatientID]_[ScanNum]_[SliceNum].png``;
- ``volume``: a CT (NIfTI, NRRD, MHA or DICOM folder) with a label volume,
  as ``CT::LABELS``, as ``NAME.nii.gz`` beside ``NAME_labels.nii.gz``, or a
  folder of such pairs; HU are windowed with the model spec's window;
- ``phantom``: a folder written by ``lesionloop phantom`` (``cases.json``);
- ``workspace``: a reviewer's corrections (``review.json`` + ``labels.nii.gz``;
  the format is documented in :mod:`training.data.workspace`); only accepted
  and corrected slices train.

Every slice becomes a :class:`Sample`: image float32 in [0, 1] (mapped as
:func:`core_models.model_spec.preprocess_slice` maps it), labels uint8
0/1/2 in our convention, the raw pixels and an id. Slices without lesions
are kept as negative examples. ``medseg-split`` is the validation split of
``BASELINES.md`` (:func:`medseg_split`).
"""
from __future__ import annotations

from training.data.instances import make_target, mapped_labels
from training.data.records import Sample, SliceReader, SliceRecord
from training.data.sources import LAYOUTS, collect_records, detect_layout, list_records
from training.data.splits import data_hash, medseg_split
from training.data.torch_dataset import ResumableSampler, SliceDataset, batches_per_epoch, collate
from training.data.workspace import STATUSES, TRAINING_STATUSES, read_review, workspace_records

__all__ = [
    "LAYOUTS", "STATUSES", "TRAINING_STATUSES", "ResumableSampler", "Sample", "SliceDataset", "SliceReader",
    "SliceRecord", "batches_per_epoch", "collate", "collect_records", "data_hash", "detect_layout",
    "list_records", "make_target", "mapped_labels", "medseg_split", "read_review", "workspace_records",
]
