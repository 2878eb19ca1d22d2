"""The model registry's write side: register, activate, roll back, remove.

Versions live in ``$LESIONLOOP_HOME/models`` (see :mod:`core_models.model_store`
for the layout and the read side, re-exported here). Every change is atomic:

- a registration copies the model folder into a hidden ``.incoming-*``
  folder inside the registry, writes the version's metadata there, and
  renames the folder to its final name - a crash leaves no half version;
- ``active.json`` is replaced atomically (:mod:`core_models.atomic`);
- choosing a name, renaming and rewriting ``active.json`` happen under a
  lock file created with ``O_EXCL`` (:class:`RegistryLock`), so two
  processes registering or activating at once never clobber each other.

Activation has a gate: a version whose binary Dice is lower than its
parent's (on the same validation) is refused with :class:`ActivationRefused`
unless ``force=True``. Rolling back never deletes anything.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

from core_models.atomic import atomic_write_json
from core_models.errors import InputError, ModelError
from core_models.model_store import (
    ACTIVE_FILE,
    ACTIVE_SCHEMA,
    BUNDLED_NAME,
    NUMBERED_RE,
    SPEC_FILE,
    ActiveState,
    has_weights,
    RegistryWarning,
    VersionInfo,
    is_version_name,
    list_versions,
    metrics_summary,
    read_active_state,
    read_spec_json,
    registered_names,
    registry_dir,
    version_info,
    warn_registry,
)

__all__ = ["ActivationRefused", "RegistryLock", "RegistryWarning", "VersionInfo", "activate", "list_versions",
           "register_model", "remove", "rollback", "version_info"]

LOCK_NAME = ".lock"
INCOMING_PREFIX = ".incoming-"
#: seconds to wait for another process's lock, and the age after which a lock is stale
LOCK_TIMEOUT_S = 30.0
LOCK_STALE_S = 120.0
#: seconds after which a left-over ``.incoming-*`` folder (a crashed registration) is swept away
INCOMING_STALE_S = 24 * 3600.0
#: the most earlier active versions ``active.json`` remembers
HISTORY_LIMIT = 50
#: the metrics key naming the validation set; figures with different values are not compared
VALIDATION_KEY = "validation"
#: the metrics key holding the parent's figures measured on this version's validation slices
COMPARED_KEY = "compared_with"


class ActivationRefused(ModelError):
    """A version scores lower than its parent; activate it with ``force=True`` if wanted.

    Attributes
    ----------
    version, parent : str
    metric : str
        The figure compared (``dice_binary``).
    value, parent_value : float
        The version's and its parent's figure.
    """

    def __init__(self, version: str, parent: str, metric: str, value: float, parent_value: float) -> None:
        self.version, self.parent, self.metric = version, parent, metric
        self.value, self.parent_value = value, parent_value
        super().__init__(f"{version} has binary Dice {value:.3f}, lower than its parent {parent} "
                         f"({parent_value:.3f}) on the same validation")


class RegistryLock:
    """An exclusive lock on the registry: a ``.lock`` file created with ``O_EXCL``.

    The file holds ``host pid``; a lock whose process is gone (same host), or
    older than :data:`LOCK_STALE_S` seconds, is taken over. Use as a context
    manager; :class:`ModelError` after ``timeout`` seconds of waiting.
    """

    def __init__(self, folder: Path | None = None, timeout: float = LOCK_TIMEOUT_S) -> None:
        self.path = (folder or registry_dir()) / LOCK_NAME
        self.timeout = timeout

    def __enter__(self) -> RegistryLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if self._stale():
                    self._break()
                elif time.monotonic() > deadline:
                    raise ModelError(f"the model registry is busy (locked by {self.path}); "
                                     "try again, or delete that file if no LesionLoop is running") from None
                else:
                    time.sleep(0.02)
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(f"{socket.gethostname()} {os.getpid()}\n")
            return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.path.unlink(missing_ok=True)

    def _stale(self) -> bool:
        try:
            age = time.time() - self.path.stat().st_mtime
            host, pid = self.path.read_text(encoding="utf-8").split()
        except (OSError, ValueError):
            return False  # vanished or still being written: retry
        if age > LOCK_STALE_S:
            return True
        return host == socket.gethostname() and not _alive(int(pid))

    def _break(self) -> None:
        self.path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


# -- registering ---------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(timezone.utc)


def next_version_name(when: datetime | None = None) -> str:
    """The next registry name, ``v<NNNN>-<YYYYmmddTHHMM>`` (number one above the highest, UTC time)."""
    numbers = [int(m.group(1)) for m in map(NUMBERED_RE.match, registered_names()) if m]
    return f"v{max(numbers, default=0) + 1:04d}-{(when or _now()).strftime('%Y%m%dT%H%M')}"


def _check_source(model_dir: str | os.PathLike[str]) -> Path:
    source = Path(model_dir)
    if not source.is_dir():
        raise InputError(f"{source} is not a model folder")
    from core_models.checkpoints import read_spec

    read_spec(source)  # the full check: ModelError when spec.json is missing or malformed
    if not has_weights(source):
        raise ModelError(f"{source} holds no weights (weights.safetensors)")
    return source


def _check_name(name: str) -> None:
    if not is_version_name(name) or name == BUNDLED_NAME:
        raise InputError(f"{name!r} cannot name a version: use letters, digits, '.', '_' and '-' "
                         f"(at most 64, not {BUNDLED_NAME!r})")


def _jsonable(value: Any, what: str) -> Any:
    try:
        return json.loads(json.dumps(value, allow_nan=True))
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be JSON-serialisable: {exc}") from None


def _copy_in(source: Path) -> Path:
    folder = registry_dir()
    folder.mkdir(parents=True, exist_ok=True)
    incoming = folder / f"{INCOMING_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}"
    try:
        shutil.copytree(source, incoming, ignore=shutil.ignore_patterns(".*"))
        for path in incoming.rglob("*"):
            if path.is_file():
                with open(path, "rb+") as fh:
                    os.fsync(fh.fileno())
    except OSError as exc:
        shutil.rmtree(incoming, ignore_errors=True)
        raise ModelError(f"cannot copy {source} into the registry {folder}: {exc.strerror or exc}") from None
    return incoming


def register_model(model_dir: str | os.PathLike[str], *, parent: str | None = None, data_hash: str | None = None,
                   metrics: dict[str, Any] | None = None, name: str | None = None, notes: str = "") -> str:
    """Copy a trained model folder into the registry as a new version (not activated).

    Parameters
    ----------
    model_dir : path
        A model folder (``spec.json`` + weights), e.g. ``lesionloop train``'s ``OUT/best``.
    parent, data_hash : str, optional
        Written into the version's metadata; ``None`` keeps what the folder's spec says.
    metrics : dict, optional
        Validation figures (Dice in [0, 1]); ``None`` keeps the spec's.
    name : str, optional
        Version name; default ``v<NNNN>-<YYYYmmddTHHMM>`` (UTC), unique and sortable.
    notes : str
        Appended to the spec's notes.

    Returns
    -------
    str
        The new version's name.

    Raises
    ------
    InputError
        Bad folder or name, or the name is taken.
    ModelError
        The folder holds no readable model, or the copy failed.
    """
    source = _check_source(model_dir)
    if name is not None:
        _check_name(name)
    metrics = _jsonable(metrics, "metrics") if metrics is not None else None
    incoming = _copy_in(source)
    try:
        spec = read_spec_json(incoming)
        meta = spec.setdefault("metadata", {})
        for key, value in (("parent", parent), ("data_hash", data_hash), ("metrics", metrics)):
            if value is not None:
                meta[key] = value
        meta["notes"] = "\n".join(n for n in (meta.get("notes") or "", notes) if n)
        return _publish(incoming, spec, name)
    finally:
        if incoming.exists():
            shutil.rmtree(incoming, ignore_errors=True)


def _publish(incoming: Path, spec: dict[str, Any], name: str | None) -> str:
    """Under the lock: choose the name, stamp version and time into the spec, rename into place."""
    with RegistryLock():
        when = _now()
        version = name or next_version_name(when)
        target = registry_dir() / version
        if target.exists():
            raise InputError(f"a model version named {version!r} already exists; choose another --name")
        spec["metadata"].update(version=version, created=when.isoformat(timespec="seconds"))
        atomic_write_json(incoming / SPEC_FILE, spec)
        try:
            os.rename(incoming, target)
        except OSError as exc:
            raise ModelError(f"cannot add {version} to the registry: {exc.strerror or exc}") from None
        _sweep_incoming()
    return version


def _sweep_incoming() -> None:
    """Delete ``.incoming-*`` folders left by registrations that crashed more than a day ago."""
    cutoff = time.time() - INCOMING_STALE_S
    for path in registry_dir().glob(f"{INCOMING_PREFIX}*"):
        try:
            if path.is_dir() and path.stat().st_mtime < cutoff:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            continue


# -- activating and rolling back ------------------------------------------------------------------


def _parent_dice(info: VersionInfo, state: ActiveState) -> float | None:
    """The parent's binary Dice when it is comparable with ``info``'s (same validation set).

    A version trained with ``--compare-with PARENT`` carries the parent's figures on its
    own validation slices (``metrics["compared_with"]``); those are used first.
    """
    scored = info.metrics.get(COMPARED_KEY)
    if info.parent and isinstance(scored, dict) and scored.get("version") == info.parent:
        return metrics_summary(scored)["dice_binary"]
    try:
        parent = version_info(info.parent, state) if info.parent else None
    except ModelError:
        return None  # a parent not in this registry: nothing to compare with
    if parent is None:
        return None
    ours, theirs = info.metrics.get(VALIDATION_KEY), parent.metrics.get(VALIDATION_KEY)
    if ours is not None and theirs is not None and ours != theirs:
        return None  # measured on different validation sets
    return parent.summary["dice_binary"]


def check_gate(version: str) -> None:
    """Raise :class:`ActivationRefused` when ``version``'s binary Dice is below its parent's.

    Nothing is compared when either figure is missing, the parent is not in
    the registry, or both name different validation sets (``metrics["validation"]``).
    """
    state = read_active_state()
    info = version_info(version, state)
    value, parent_value = info.summary["dice_binary"], _parent_dice(info, state)
    if value is not None and parent_value is not None and value < parent_value:
        raise ActivationRefused(version, str(info.parent), "dice_binary", value, parent_value)


def _write_active(version: str, history: list[str]) -> None:
    atomic_write_json(registry_dir() / ACTIVE_FILE, {
        "schema": ACTIVE_SCHEMA, "version": version, "history": history[-HISTORY_LIMIT:],
        "updated": _now().isoformat(timespec="seconds")})


def _usable(version: str, state: ActiveState) -> VersionInfo:
    info = version_info(version, state)  # ModelError for an unknown version
    if info.broken and not info.bundled:
        raise ModelError(f"model version {version} cannot be used: {info.problem}")
    return info


def _current(state: ActiveState) -> ActiveState:
    if state.problem:
        warn_registry(state.problem)
    return state


def activate(version: str, *, force: bool = False) -> str:
    """Make ``version`` the active model; the one it replaces joins the history.

    Parameters
    ----------
    version : str
        A registered version or ``bundled``.
    force : bool
        Activate even when its binary Dice is lower than its parent's.

    Returns
    -------
    str
        The previously active version.

    Raises
    ------
    ActivationRefused
        The gate failed and ``force`` is false (carries both Dice figures).
    ModelError
        Unknown or broken version.
    """
    with RegistryLock():
        state = _current(read_active_state())
        _usable(version, state)
        if not force:
            check_gate(version)
        if version != state.version:
            _write_active(version, [*state.history, state.version])
        return state.version


def rollback(version: str | None = None) -> str:
    """Return to the previously active version, or to a named earlier active version.

    ``bundled`` can always be returned to. The history is unwound to just
    before the version returned to; no version is deleted and no gate applies.

    Returns
    -------
    str
        The version now active.

    Raises
    ------
    ModelError
        Nothing to roll back to, or ``version`` was never active (use activate).
    """
    with RegistryLock():
        state = _current(read_active_state())
        history = list(state.history)
        if version is None:
            while history and _broken_or_unknown(history[-1], state):
                history.pop()
            if not history and state.version == BUNDLED_NAME:
                raise ModelError("nothing to roll back to: the bundled model is active and no earlier version was")
            target = history.pop() if history else BUNDLED_NAME
        elif version == state.version:
            return version
        else:
            target = version
            _usable(target, state)
            if target in history:
                history = history[:len(history) - 1 - history[::-1].index(target)]
            elif target != BUNDLED_NAME:
                raise ModelError(f"{target} was never active, so it is no rollback target; "
                                 f"use `lesionloop models activate {target}`")
        _write_active(target, history)
        return target


def _broken_or_unknown(version: str, state: ActiveState) -> bool:
    if version == BUNDLED_NAME:
        return False
    try:
        return version_info(version, state).broken
    except ModelError:
        return True


def remove(version: str) -> Path:
    """Delete a registered version that is neither active nor ``bundled``; returns its former folder."""
    with RegistryLock():
        state = _current(read_active_state())
        if version == BUNDLED_NAME:
            raise ModelError("the bundled model cannot be removed")
        info = version_info(version, state)
        if info.active:
            raise ModelError(f"{version} is the active model; activate or roll back to another one first")
        trash = registry_dir() / f"{INCOMING_PREFIX}removed-{uuid.uuid4().hex[:12]}"
        try:
            os.rename(info.path, trash)  # atomic: the version disappears at once
        except OSError as exc:
            raise ModelError(f"cannot remove {version}: {exc.strerror or exc}") from None
        if version in state.history:
            _write_active(state.version, [h for h in state.history if h != version])
    shutil.rmtree(trash, ignore_errors=True)
    return info.path

