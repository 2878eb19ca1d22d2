"""Workspaces on disk and tiny-model settings for the retraining tests."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.training.helpers import write_phantom

#: `lesionloop train` options that keep a fine-tuning run of the tiny model short
TINY_OPTIONS = "--batch 2 --min-area 5 --log-every 1"


def write_workspace(folder: Path, statuses: dict[int, str], slices: int = 6, seed: int = 1) -> Path:
    """A saved workspace (``labels.nii.gz`` + ``review.json``, the reviewer's format) on a 64² phantom CT.

    The phantom's exact labels stand in for the reviewer's corrected labels.
    """
    data = write_phantom(folder.parent / f"{folder.name}_ct", cases=1, slices=slices, seed=seed)
    folder.mkdir(parents=True)
    shutil.copy(data / "case_000_labels.nii.gz", folder / "labels.nii.gz")
    review = {"format": "lesionloop-review", "schema": 1, "ct": str(data / "case_000.nii.gz"),
              "labels": "labels.nii.gz", "slices": {str(z): s for z, s in statuses.items()}}
    (folder / "review.json").write_text(json.dumps(review), encoding="utf-8")
    return folder


def register_tiny(tiny_model_dir: Path, activate: bool = True) -> str:
    """Register the tiny model as a version (and make it the active one)."""
    from training.registry import activate as activate_version, register_model

    version = register_model(tiny_model_dir)
    if activate:
        activate_version(version)
    return version


def folder_bytes(folder: Path) -> dict[str, bytes]:
    """Every file's bytes under ``folder`` (to prove nothing was written there)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
