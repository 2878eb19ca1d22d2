"""Checks made before pixel data is read, and ITK errors made readable.

Readers look at a file's header first (size, pixel type, dimension) and call
:func:`check_memory` so a file that declares a huge size is refused with a
:class:`~core_models.errors.ResourceError` instead of exhausting memory.
SimpleITK reports failures as long multi-line ``RuntimeError`` texts;
:func:`itk_errors` turns them into one-line :class:`InputError` messages.
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import SimpleITK as sitk

from core_models.errors import InputError, ResourceError

#: bytes per pixel component of SimpleITK pixel types (scalar or vector)
_BYTES = {
    sitk.sitkUInt8: 1, sitk.sitkInt8: 1, sitk.sitkUInt16: 2, sitk.sitkInt16: 2,
    sitk.sitkUInt32: 4, sitk.sitkInt32: 4, sitk.sitkUInt64: 8, sitk.sitkInt64: 8,
    sitk.sitkFloat32: 4, sitk.sitkFloat64: 8,
    sitk.sitkVectorUInt8: 1, sitk.sitkVectorInt8: 1, sitk.sitkVectorUInt16: 2,
    sitk.sitkVectorInt16: 2, sitk.sitkVectorUInt32: 4, sitk.sitkVectorInt32: 4,
    sitk.sitkVectorFloat32: 4, sitk.sitkVectorFloat64: 8,
}

_ITK_PREFIX = re.compile(r"^\s*(?:s?itk::|ITK\s+)?(?:ERROR|Error|WARNING)?:?\s*(?:\w+\(0x[0-9a-fA-F]+\):\s*)?")


def quiet_itk() -> None:
    """Stop ITK from printing multi-line warnings on stderr (we report our own)."""
    sitk.ProcessObject.SetGlobalWarningDisplay(False)


def bytes_per_pixel(pixel_id: int) -> int:
    """Bytes of one pixel component for a SimpleITK pixel id (8 when unknown)."""
    return _BYTES.get(pixel_id, 8)


def available_memory() -> int:
    """Memory available to a new allocation, in bytes.

    ``MemAvailable`` from ``/proc/meminfo`` where there is one (Linux), else
    free physical pages from ``os.sysconf``; a generous 8 GiB if neither works.
    """
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return 8 * 1024**3


def format_bytes(n: float) -> str:
    """Human size with binary units, e.g. ``1.5 GiB``."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover - loop always returns


def check_memory(needed: int, what: str) -> None:
    """Raise :class:`ResourceError` when ``needed`` bytes exceed available memory.

    Parameters
    ----------
    needed : bytes the read would allocate (declared voxels × bytes per voxel).
    what : the input, named in the message.
    """
    available = available_memory()
    if needed > available:
        raise ResourceError(
            f"reading {what} needs about {format_bytes(needed)} of memory, "
            f"but only {format_bytes(available)} is available"
        )


def check_shape(size: tuple[int, ...], components: int, what: str) -> None:
    """Refuse 4D images and vector (RGB) pixels before reading them.

    Parameters
    ----------
    size : SimpleITK size (x, y[, z[, t]]).
    components : pixel components per voxel (3 for RGB).
    what : the input, named in the message.
    """
    if len(size) > 3 and any(s > 1 for s in size[3:]):
        raise InputError(
            f"{what} is a {len(size)}D image (size {' x '.join(map(str, size))}); "
            "LesionLoop reads 3D volumes only"
        )
    if len(size) < 2:
        raise InputError(f"{what} is a {len(size)}D image; LesionLoop reads 2D slices and 3D volumes")
    if components != 1:
        raise InputError(
            f"{what} has {components} values per voxel (colour or vector pixels); "
            "a CT volume has one grey value per voxel"
        )


def short_itk_reason(exc: BaseException, limit: int = 140) -> str:
    """The last meaningful line of an ITK error, without file names of C++ sources."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith("Exception thrown in SimpleITK")]
    if not useful:
        return "unreadable file"
    text = _ITK_PREFIX.sub("", useful[-1])
    text = re.sub(r"^/\S+:\d+:\s*", "", text).strip() or "unreadable file"
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _StderrSilencer:
    """Reference-counted redirection of file descriptor 2 to a scratch file.

    The descriptor is process-wide, so concurrent readers share one
    redirection: the first to enter sets it up, the last to leave restores it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._saved: int | None = None
        self._sink: IO[bytes] | None = None

    def enter(self) -> None:
        with self._lock:
            if self._depth == 0:
                try:
                    sys.stderr.flush()
                    self._saved = os.dup(2)
                    self._sink = tempfile.TemporaryFile()
                    os.dup2(self._sink.fileno(), 2)
                except (OSError, ValueError, AttributeError):
                    self._restore()
            self._depth += 1

    def leave(self) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0:
                self._restore()

    def _restore(self) -> None:
        if self._saved is not None:
            os.dup2(self._saved, 2)
            os.close(self._saved)
        if self._sink is not None:
            self._sink.close()
        self._saved, self._sink = None, None


_SILENCER = _StderrSilencer()


@contextlib.contextmanager
def silenced_c_stderr() -> Iterator[None]:
    """Discard what C libraries print on file descriptor 2 inside the block.

    niftilib and GDCM print their own ``** ERROR`` lines straight to stderr;
    we report failures as one line of our own instead.
    """
    _SILENCER.enter()
    try:
        yield
    finally:
        _SILENCER.leave()


@contextlib.contextmanager
def itk_errors(what: str | Path, doing: str = "read") -> Iterator[None]:
    """Turn SimpleITK ``RuntimeError`` inside the block into a one-line InputError.

    C-level messages printed meanwhile are discarded (see :func:`silenced_c_stderr`).
    """
    try:
        with silenced_c_stderr():
            yield
    except RuntimeError as exc:
        reason = short_itk_reason(exc)
        for token in str(what).split():
            if ("/" in token or "\\" in token) and token in reason:
                reason = reason.replace(token, "the file")
        raise InputError(f"cannot {doing} {what}: {reason}") from None
