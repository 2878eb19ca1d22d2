"""Find NaN/inf voxels of a float NIfTI file, which ITK 5 silently reads as 0.

ITK's bundled niftilib replaces every non-finite float voxel with 0 while
reading (fixed only in ITK 6), so a volume full of NaN would arrive as a
plausible all-zero CT. We stream the raw voxel data once and return where
the non-finite voxels are; the reader then treats them as missing.
"""
from __future__ import annotations

import gzip
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np

_FLOAT_TYPES = {16: "f4", 64: "f8"}  # NIfTI datatype codes: FLOAT32, FLOAT64
_CHUNK = 1 << 24  # bytes per read while scanning


def _header(fh: BinaryIO) -> tuple[str, int, list[int], int] | None:
    """(byte order, datatype, dims, data offset) of a NIfTI-1 or NIfTI-2 header."""
    head = fh.read(540)
    if len(head) < 348:
        return None
    for order in ("<", ">"):
        size = struct.unpack(order + "i", head[:4])[0]
        if size == 348:
            dims = list(struct.unpack(order + "8h", head[40:56]))
            datatype = struct.unpack(order + "h", head[70:72])[0]
            offset = int(struct.unpack(order + "f", head[108:112])[0])
            return order, datatype, dims, max(offset, 352)
        if size == 540 and len(head) == 540:
            datatype = struct.unpack(order + "h", head[12:14])[0]
            dims = list(struct.unpack(order + "8q", head[16:80]))
            offset = struct.unpack(order + "q", head[168:176])[0]
            return order, datatype, dims, max(int(offset), 544)
    return None


def nonfinite_mask(path: Path, shape: tuple[int, int, int]) -> np.ndarray | None:
    """Boolean (z, y, x) mask of NaN/inf voxels of a float NIfTI, or None when there are none.

    Returns None as well for non-float data, unreadable headers or a voxel
    count that does not match ``shape`` (ITK's own reading then stands).
    """
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            header = _header(fh)
            if header is None or header[1] not in _FLOAT_TYPES:
                return None
            order, datatype, dims, offset = header
            n_dims = max(1, min(int(dims[0]), 7))
            if int(np.prod([max(d, 1) for d in dims[1:n_dims + 1]])) != int(np.prod(shape)):
                return None
            fh.seek(offset)  # a gzip stream rewinds and skips; cheap for a header-sized offset
            return _scan(fh, np.dtype(order + _FLOAT_TYPES[datatype]), shape)
    except (OSError, EOFError, struct.error, ValueError):
        return None


def _scan(fh: BinaryIO, dtype: np.dtype, shape: tuple[int, int, int]) -> np.ndarray | None:
    mask = np.zeros(int(np.prod(shape)), dtype=bool)
    done = 0
    step = max(1, _CHUNK // dtype.itemsize) * dtype.itemsize
    while done < mask.size:
        block = fh.read(min(step, (mask.size - done) * dtype.itemsize))
        if not block:
            break
        values = np.frombuffer(block[: len(block) - len(block) % dtype.itemsize], dtype=dtype)
        mask[done:done + values.size] = ~np.isfinite(values)
        done += values.size
    return mask.reshape(shape) if mask.any() else None
