"""Atomic file writes: write to a temporary file beside the target, then rename.

A crash or a kill during a write leaves the old file (or nothing), never half
a file. ``os.replace`` is atomic on POSIX and Windows when source and target
are on the same file system, which holds because the temporary file is
created in the target's folder.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _suffix_of(path: Path) -> str:
    """Full suffix (``.nii.gz``, ``.seg.nrrd``), so writers that pick a format by name still do."""
    name = path.name
    dot = name.find(".", 1)
    return name[dot:] if dot > 0 else ""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write to; on success it replaces ``path``.

    The temporary name keeps the target's full suffix, so SimpleITK and
    Pillow choose the same format. On any exception the temporary file is
    removed and ``path`` is left untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp" + _suffix_of(target), dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


#: the names :func:`atomic_path` gives its temporary files: ``.NAME.XXXXXXXX.tmpSUFFIX`` (mkstemp's 8 characters)
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp(?P<suffix>.*)$")


def is_atomic_temp(name: str) -> bool:
    """Whether ``name`` is a temporary file name that :func:`atomic_path` makes (left behind by a killed write)."""
    match = _TEMP_NAME.match(name)
    return bool(match) and match["suffix"] == _suffix_of(Path(match["name"]))


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def json_safe(value: Any) -> Any:
    """``value`` with NaN and ±inf floats replaced by ``None`` (strict JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
