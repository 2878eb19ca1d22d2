"""Tiny segmentation models and class-labelled data for the classifier S tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core_models.checkpoints import save_model
from core_models.model_spec import ModelSpec
from tests.conftest import make_tiny_spec
from tests.training.helpers import lesion_slice, write_phantom

#: few proposals: the RoI heads dominate CPU time on tiny images
FAST_TEST_OPTIONS = {"rpn_pre_nms_top_n_test": 60, "rpn_post_nms_top_n_test": 30}
KINDS = ("normal", "cap", "covid")


def tiny_seg_spec(norm: str = "group", classifier: bool = False) -> ModelSpec:
    """A tiny segmentation spec with ``norm`` normalisation (optionally with S: R 16, s 32)."""
    spec = make_tiny_spec(classifier=classifier)
    spec.builder_args = {**spec.builder_args, "norm": norm, **FAST_TEST_OPTIONS}
    return spec


def save_tiny_model(folder: Path, norm: str = "group", classifier: bool = False, seed: int = 0) -> Path:
    """A saved tiny model with random weights (BatchNorm statistics made non-trivial)."""
    torch.manual_seed(seed)
    spec = tiny_seg_spec(norm, classifier)
    model = spec.build()
    for name, buffer in model.named_buffers():
        if "running_mean" in name:
            buffer.uniform_(-0.1, 0.1)
        elif "running_var" in name:
            buffer.uniform_(0.8, 1.2)
    spec.metadata.metrics = {"dice_binary": 0.5, "validation": "sha256:seg"}
    return save_model(model, spec, folder)


def write_class_phantoms(root: Path, slices: int = 3, seed: int = 1) -> list[Path]:
    """One 64² phantom case per class (normal, cap, covid) in its own folder."""
    return [write_phantom(root / kind, cases=1, slices=slices, seed=seed, kind=kind) for kind in KINDS]


def write_named_images(folder: Path, names: list[str], size: int = 40, masks: dict[str, bool] | None = None) -> Path:
    """8-bit grey PNGs named ``names`` in ``folder``; with ``masks``, seed-convention masks in
    ``folder/../masks`` (True: with a lesion, False: lung only)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        image, labels = lesion_slice(size, size, i)
        Image.fromarray(image).save(folder / name)
        if masks is not None and name in masks:
            mask_dir = folder.parent / "masks"
            mask_dir.mkdir(exist_ok=True)
            seed_mask = np.where(labels == 0, 1, labels + 1).astype(np.uint8) if masks[name] else \
                np.ones_like(labels)
            Image.fromarray(seed_mask).save(mask_dir / name)
    return folder
