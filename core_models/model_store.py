"""Finding models: the bundled default, the user's versions and the active one.

The registry's write side (registering new versions, activating, rolling
back) lives in :mod:`training.registry`; this module only reads, so inference
and the viewer can resolve "the active model" and list versions without the
training package.

Layout under ``$LESIONLOOP_HOME/models``:

- one folder per version (``weights.safetensors`` + ``spec.json``), named
  like ``v0003-20261123T1530`` (sortable) or a name the user chose;
- ``active.json``: ``{"schema": 1, "version": NAME, "history": [older
  active versions, oldest first], "updated": ISO time}``. A missing file
  means the bundled model; an unreadable one means the bundled model too,
  with a :class:`RegistryWarning`;
- hidden entries (``.lock``, ``.incoming-*`` folders of registrations in
  progress) are never versions.
"""
from __future__ import annotations

import json
import math
import re
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core_models.errors import ModelError
from core_models.paths import resources_dir, user_home

BUNDLED_NAME = "bundled"
ACTIVE_FILE = "active.json"
ACTIVE_SCHEMA = 1
SPEC_FILE = "spec.json"
#: the weight files a model folder may hold (as :mod:`core_models.checkpoints` reads them)
WEIGHT_FILES = ("weights.safetensors", "weights.pt", "weights.pth")
#: a version name: letters, digits, ``.``, ``_``, ``-``; starts with a letter or digit
VERSION_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
#: the registry's own names: ``v<number>-<UTC time>``
NUMBERED_RE = re.compile(r"^v(\d{1,9})-")
#: the figures a version listing shows, and where each may sit in a metrics dict
SUMMARY_KEYS: dict[str, tuple[tuple[str, ...], ...]] = {
    "dice_ggo": (("dice_ggo",), ("dice", "ggo"), ("slice_mean", "ggo", "dice"),
                 ("segmentation", "slice_mean", "ggo", "dice")),
    "dice_consolidation": (("dice_consolidation",), ("dice", "consolidation"),
                           ("slice_mean", "consolidation", "dice"),
                           ("segmentation", "slice_mean", "consolidation", "dice")),
    "dice_binary": (("dice_binary",), ("dice", "binary"), ("slice_mean", "binary", "dice"),
                    ("segmentation", "slice_mean", "binary", "dice")),
    "map": (("map",), ("mAP",), ("mask_map",), ("detection", "map"), ("ap", "map")),
}


class RegistryWarning(UserWarning):
    """A registry file was unreadable and a safe default (the bundled model) was used."""


def bundled_model_dir() -> Path:
    """Folder of the model shipped in ``resources/models/default``."""
    return resources_dir() / "models" / "default"


def registry_dir() -> Path:
    """The user's model registry folder."""
    return user_home() / "models"


def is_version_name(name: str) -> bool:
    """Whether ``name`` is a possible version name (``bundled`` included)."""
    return isinstance(name, str) and bool(VERSION_NAME_RE.match(name))


@dataclass
class ActiveState:
    """What ``active.json`` says.

    Attributes
    ----------
    version : str
        The active version (``bundled`` when none was activated).
    history : list of str
        Earlier active versions, oldest first (the last one is what a
        rollback returns to).
    problem : str or None
        Why the file could not be used (then ``version`` is ``bundled``).
    """

    version: str = BUNDLED_NAME
    history: list[str] = field(default_factory=list)
    problem: str | None = None


def read_active_state() -> ActiveState:
    """Read ``active.json`` without raising: a missing file is the bundled model.

    A corrupt file gives the bundled model with :attr:`ActiveState.problem`
    set; no warning is issued here (see :func:`active_version`).
    """
    path = registry_dir() / ACTIVE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ActiveState()
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return ActiveState(problem=f"{path} is unreadable ({type(exc).__name__}); using the bundled model")
    version = data.get("version") if isinstance(data, dict) else None
    if not isinstance(version, str) or not is_version_name(version):
        return ActiveState(problem=f"{path} names no valid version; using the bundled model")
    history = data.get("history", [])
    history = [h for h in history if isinstance(h, str) and is_version_name(h)] if isinstance(history, list) else []
    return ActiveState(version=version, history=history)


def warn_registry(message: str) -> None:
    """Issue a :class:`RegistryWarning` (the CLI prints it, the viewer may show it)."""
    warnings.warn(message, RegistryWarning, stacklevel=3)


def active_version() -> str:
    """Name of the active version (``bundled`` unless the user activated another).

    A corrupt ``active.json`` gives ``bundled`` and a :class:`RegistryWarning`.
    """
    state = read_active_state()
    if state.problem:
        warn_registry(state.problem)
    return state.version


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
        if model == BUNDLED_NAME or (is_version_name(model) and (registry_dir() / model / "spec.json").exists()):
            return _existing(version_dir(model), f"model version {model!r}")
        raise ModelError(f"no model at {model!r}: give a model folder (with spec.json) or a registered version name")
    version = active_version()
    hint = "" if version == BUNDLED_NAME else "; `lesionloop models rollback` returns to an earlier version"
    return _existing(version_dir(version), f"the active model ({version})", hint)


def _existing(folder: Path, what: str, hint: str = "") -> Path:
    if not (folder / "spec.json").exists():
        raise ModelError(f"{what} is not available: no model in {folder} "
                         f"(train one with `lesionloop train` or pass --model FOLDER){hint}")
    return folder


# -- listing versions ---------------------------------------------------------------------------


def _lookup(metrics: dict[str, Any], path: tuple[str, ...]) -> float | None:
    value: Any = metrics
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def metrics_summary(metrics: dict[str, Any] | None) -> dict[str, float | None]:
    """Dice GGO / consolidation / binary and mAP from a version's metrics.

    Flat keys (``dice_ggo``, ``dice_consolidation``, ``dice_binary``,
    ``map``) are read first, then nested forms such as
    :func:`core_models.metrics.segmentation_report`'s ``slice_mean``.
    Missing or non-finite figures are ``None``.
    """
    metrics = metrics if isinstance(metrics, dict) else {}
    summary: dict[str, float | None] = {}
    for key, paths in SUMMARY_KEYS.items():
        found = (_lookup(metrics, p) for p in paths)
        summary[key] = next((v for v in found if v is not None), None)
    return summary


def architecture_of(spec: dict[str, Any]) -> dict[str, Any]:
    """Builder, backbone, truncation, mask type, semantic head and module S of a ``spec.json`` dict."""
    args = spec.get("builder_args") if isinstance(spec.get("builder_args"), dict) else {}
    return {"builder": spec.get("builder"), "backbone": args.get("backbone"), "truncation": args.get("truncation"),
            "mask_type": spec.get("mask_type", "both"), "semantic_head": bool(args.get("semantic_head", False)),
            "classifier": spec.get("classifier") is not None}


def architecture_text(arch: dict[str, Any]) -> str:
    """One short line, e.g. ``maskrcnn_light resnet18/t2 both +sem``."""
    if not arch:
        return "?"
    parts = [str(arch.get("builder"))]
    if arch.get("backbone"):
        cut = f"/t{arch['truncation']}" if arch.get("truncation") is not None else ""
        parts.append(f"{arch['backbone']}{cut}")
    parts.append(str(arch.get("mask_type")))
    parts += [flag for key, flag in (("semantic_head", "+sem"), ("classifier", "+S")) if arch.get(key)]
    return " ".join(parts)


@dataclass
class VersionInfo:
    """One model version as the registry lists it.

    Attributes
    ----------
    version : str
        Name (``bundled`` for the shipped model).
    path : Path
        Its folder.
    active : bool
        Whether it is the active version.
    parent, created, data_hash, command, notes : str or None
        From the spec's metadata (``created``: ISO 8601, UTC).
    metrics : dict
        All validation figures stored with it.
    summary : dict
        :func:`metrics_summary` (Dice GGO / consolidation / binary, mAP).
    architecture : dict
        :func:`architecture_of` its spec.
    problem : str or None
        Why the version cannot be used (missing spec or weights); ``None`` when intact.
    """

    version: str
    path: Path
    active: bool = False
    parent: str | None = None
    created: str | None = None
    data_hash: str | None = None
    command: str = ""
    notes: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, float | None] = field(default_factory=lambda: metrics_summary(None))
    architecture: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None

    @property
    def broken(self) -> bool:
        """Whether the version cannot be loaded."""
        return self.problem is not None

    @property
    def bundled(self) -> bool:
        """Whether this is the shipped model."""
        return self.version == BUNDLED_NAME

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (``path`` as a string, ``broken`` and ``architecture_text`` added)."""
        data = asdict(self)
        data.update(path=str(self.path), broken=self.broken, architecture_text=architecture_text(self.architecture))
        return data


def has_weights(folder: Path) -> bool:
    """Whether ``folder`` holds a weights file (:data:`WEIGHT_FILES`)."""
    return any((folder / name).is_file() for name in WEIGHT_FILES)


def read_spec_json(folder: Path) -> dict[str, Any]:
    """``folder/spec.json`` as a dict, checked only for a builder and a metadata object.

    This is the light read used for listing (no torch import); loading a
    model checks the whole spec (:func:`core_models.checkpoints.read_spec`).
    """
    path = folder / SPEC_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path} is missing: not a LesionLoop model folder") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelError(f"{path} is not readable JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict) or not isinstance(data.get("builder"), str):
        raise ModelError(f"{path} is not a model spec (no 'builder')")
    if not isinstance(data.get("metadata", {}), dict):
        raise ModelError(f"{path}: metadata must be a JSON object")
    return data


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _read_version(name: str, folder: Path, active: str) -> VersionInfo:
    info = VersionInfo(version=name, path=folder, active=name == active)
    if not folder.is_dir():
        info.problem = (f"no bundled model installed in {folder}" if name == BUNDLED_NAME
                        else f"its folder {folder} is missing")
        return info
    try:
        spec = read_spec_json(folder)
    except ModelError as exc:
        info.problem = str(exc)
        return info
    meta = spec.get("metadata", {})
    info.parent, info.created, info.data_hash = _text(meta.get("parent")), _text(meta.get("created")), \
        _text(meta.get("data_hash"))
    info.command, info.notes = str(meta.get("command") or ""), str(meta.get("notes") or "")
    info.metrics = dict(meta["metrics"]) if isinstance(meta.get("metrics"), dict) else {}
    info.summary = metrics_summary(info.metrics)
    info.architecture = architecture_of(spec)
    if not has_weights(folder):
        info.problem = f"{folder} holds no weights file"
    return info


def registered_names() -> list[str]:
    """Names of the version folders in the registry (unsorted; hidden entries skipped)."""
    try:
        entries = list(registry_dir().iterdir())
    except OSError:
        return []
    return [e.name for e in entries if e.is_dir() and is_version_name(e.name) and e.name != BUNDLED_NAME]


def _order(info: VersionInfo) -> tuple[Any, ...]:
    number = NUMBERED_RE.match(info.version)
    return (info.created is None, info.created or "", int(number.group(1)) if number else 0, info.version)


def list_versions(state: ActiveState | None = None) -> list[VersionInfo]:
    """The bundled model, then every registered version by creation time.

    Versions without a readable ``spec.json`` or weights are listed with
    :attr:`VersionInfo.problem` set (after the intact ones), never raised.
    A corrupt ``active.json`` issues a :class:`RegistryWarning`.
    """
    if state is None:
        state = read_active_state()
        if state.problem:
            warn_registry(state.problem)
    bundled = _read_version(BUNDLED_NAME, bundled_model_dir(), state.version)
    others = [_read_version(n, registry_dir() / n, state.version) for n in registered_names()]
    return [bundled, *sorted(others, key=_order)]


def version_info(version: str, state: ActiveState | None = None) -> VersionInfo:
    """The :class:`VersionInfo` of ``version``; :class:`ModelError` when there is no such version."""
    if version != BUNDLED_NAME and (not is_version_name(version) or not (registry_dir() / version).is_dir()):
        known = ", ".join(i.version for i in list_versions(state or read_active_state()))
        raise ModelError(f"unknown model version {version!r}; known versions: {known}")
    active = (state or read_active_state()).version
    return _read_version(version, version_dir(version), active)
