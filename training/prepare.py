"""Setting a run up: the model spec and network, the training and validation slices.

- From scratch, the spec comes from the config (builder, backbone,
  truncation, norm, mask type, anchors, semantic head, ``builder_args``);
  its preprocessing resizes so the long side is ``image_size`` (the model's
  ``min_size`` = ``max_size`` = ``image_size``), and its input kind is
  ``hu`` when any training slice holds Hounsfield units, else ``8bit``.
- With ``init``, the model folder's spec wins (builder, builder arguments,
  mask type, preprocessing, thresholds); ``image_size``, when given, still
  sets the resize. The new model's ``parent`` is the init model's version.
"""
from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from core_models.checkpoints import load_model
from core_models.errors import InputError
from core_models.model_spec import ModelMetadata, ModelSpec, Preprocessing
from core_models.model_store import resolve_model_dir
from core_models.nets import MaskRCNNClassifier, get_builder
from training.config import MEDSEG_SPLIT, TrainConfig
from training.data.records import KIND_IMAGE, SliceReader, SliceRecord
from training.data.sources import collect_records
from training.data.splits import medseg_split

DEFAULT_IMAGE_SIZE = 384
#: config fields passed to the builder when it takes them
_BUILDER_FIELDS = ("backbone", "truncation", "norm", "semantic_head", "anchor_sizes", "anchor_ratios")


@dataclass
class RunData:
    """Training and validation slices."""

    train: list[SliceRecord]
    val: list[SliceRecord]


def resolve_data(config: TrainConfig) -> RunData:
    """The training and validation records of a config (``--val medseg-split`` or paths)."""
    records = collect_records(config.data)
    if config.val == [MEDSEG_SPLIT]:
        train, val = medseg_split(records)
    elif MEDSEG_SPLIT in config.val:
        raise InputError(f"--val {MEDSEG_SPLIT} cannot be combined with validation paths")
    else:
        train, val = records, (collect_records(config.val) if config.val else [])
    if not train:
        raise InputError("no training slices are left after taking out the validation slices")
    overlap = {(r.image_path, r.z, r.series or "") for r in train} & {(r.image_path, r.z, r.series or "") for r in val}
    if overlap:
        path, z, _series = sorted(overlap)[0]
        raise InputError(f"{len(overlap)} slice(s) are in both training and validation data (e.g. {path} slice {z})")
    return RunData(train, val)


def input_kind_for(records: list[SliceRecord]) -> str:
    """``8bit`` when every record is a plain 2D image (MedSeg, seed PNGs), else ``hu``."""
    return "8bit" if records and all(r.kind == KIND_IMAGE for r in records) else "hu"


def _builder_args(config: TrainConfig) -> dict:
    accepted = inspect.signature(get_builder(config.builder)).parameters
    args = {name: getattr(config, name) for name in _BUILDER_FIELDS if name in accepted}
    for key in ("anchor_sizes", "anchor_ratios"):
        if key in args:
            args[key] = list(args[key])
    return {**args, **config.builder_args}


def spec_from_config(config: TrainConfig, input_kind: str) -> ModelSpec:
    """A fresh spec for training from scratch."""
    size = config.image_size or DEFAULT_IMAGE_SIZE
    prep = Preprocessing(input_kind=input_kind, min_size=size, max_size=size)
    return ModelSpec(builder=config.builder, builder_args=_builder_args(config), mask_type=config.mask_type,
                     preprocessing=prep, score_threshold=config.score_threshold,
                     metadata=ModelMetadata(version=config.version or Path(config.out).name))


def load_init(config: TrainConfig) -> tuple[nn.Module, ModelSpec]:
    """The ``--init`` model (CPU) and a copy of its spec prepared for the new run."""
    model, spec = load_model(resolve_model_dir(config.init))
    spec = copy.deepcopy(spec)
    if config.image_size:
        spec.preprocessing = replace(spec.preprocessing, min_size=config.image_size, max_size=config.image_size)
    parent = spec.metadata.version
    spec.metadata = ModelMetadata(version=config.version or Path(config.out).name, parent=parent)
    if spec.classifier:
        spec.metadata.notes = "classification module S was kept from the parent model, not retrained"
    return model, spec


def build_model_and_spec(config: TrainConfig, records: list[SliceRecord]) -> tuple[nn.Module, ModelSpec]:
    """The network to train (random weights or ``--init``) and its spec."""
    if config.init:
        return load_init(config)
    spec = spec_from_config(config, input_kind_for(records))
    return spec.build(), spec


def trainable_part(model: nn.Module) -> nn.Module:
    """The detector that segmentation training updates (inside a classifier wrapper, its detector)."""
    return model.detector if isinstance(model, MaskRCNNClassifier) else model


def prime_roi_pool_scales(detector: nn.Module, size: int = 256) -> None:
    """Fix the RoI poolers' feature scales from an unpadded square input.

    torchvision's ``MultiScaleRoIAlign`` infers its scales on its first call
    from the feature size over the largest *unpadded* image size; for small
    images padded to a multiple of 32 that can round to twice the true scale
    (e.g. 65 px padded to 96 px at stride 8 gives 1/4, not 1/8), and the
    wrong value then sticks. A 256-pixel square has no padding, so the
    scales are exact (1/stride per level).
    """
    roi_heads, backbone = getattr(detector, "roi_heads", None), getattr(detector, "backbone", None)
    if roi_heads is None or backbone is None:
        return
    device = next(detector.parameters()).device
    was_training = backbone.training
    backbone.eval()  # no BatchNorm statistics from the dummy input
    with torch.no_grad():
        features = backbone(torch.zeros(1, 3, size, size, device=device))
    backbone.train(was_training)
    boxes = [torch.tensor([[0.0, 0.0, 8.0, 8.0]], device=device)]
    for pool in (getattr(roi_heads, "box_roi_pool", None), getattr(roi_heads, "mask_roi_pool", None)):
        if pool is not None:
            pool.scales = pool.map_levels = None
            pool(features, boxes, [(size, size)])


def make_reader(spec: ModelSpec) -> SliceReader:
    """A slice reader with the spec's preprocessing."""
    return SliceReader(spec.preprocessing)
