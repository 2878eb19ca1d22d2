"""Finding models: the bundled default and the user's active version.

The registry's write side (training new versions, activating, rolling back)
lives in :mod:`training.registry`; this module only reads, so inference and
the viewer can resolve "the active model" without the training package.
Layout under ``$LESIONLOOP_HOME/models``: one folder per version (weights +
``spec.json``) and ``active.json`` naming the active version.
"""
from __future__ import annotations

import json
from pathlib import Path

from core_models.errors import ModelError
from core_models.paths import resources_dir, user_home

BUNDLED_NAME = "bundled"


def bundled_model_dir() -> Path:
    """Folder of the model shipped in ``resources/models/default``."""
    return resources_dir() / "models" / "default"


def registry_dir() -> Path:
    """The user's model registry folder."""
    return user_home() / "models"


def active_version() -> str:
    """Name of the active version (``bundled`` unless the user activated another)."""
    path = registry_dir() / "active.json"
    try:
        return str(json.loads(path.read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return BUNDLED_NAME


def version_dir(version: str) -> Path:
    """Folder of ``version`` (``bundled`` is the shipped model)."""
    return bundled_model_dir() if version == BUNDLED_NAME else registry_dir() / version


def resolve_model_dir(model: str | None = None) -> Path:
    """The model folder to use: a path, a registered version name, or the active version.

    Raises :class:`ModelError` with a clear message when there is none.
    """
    if model:
        path = Path(model)
        if path.is_dir() and (path / "spec.json").exists():
            return path
        if (registry_dir() / model / "spec.json").exists() or model == BUNDLED_NAME:
            return _existing(version_dir(model), f"model version {model!r}")
        raise ModelError(f"no model at {model!r}: give a model folder (with spec.json) or a registered version name")
    return _existing(version_dir(active_version()), f"the active model ({active_version()})")


def _existing(folder: Path, what: str) -> Path:
    if not (folder / "spec.json").exists():
        raise ModelError(f"{what} is not available: no model in {folder} "
                         "(train one with `lesionloop train` or pass --model FOLDER)")
    return folder
