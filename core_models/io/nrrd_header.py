"""A small NRRD header reader, used to check a file before ITK reads it.

ITK's NRRD reader opens the data file even to read the header, so a header
that declares a huge size, or names a missing detached data file, is
checked here first. Only the fields needed for that are interpreted.
"""
from __future__ import annotations

from pathlib import Path

from core_models.errors import InputError

_MAX_HEADER = 1 << 16


def _type_bytes(type_name: str) -> int:
    """Bytes per value of an NRRD ``type`` field (8 when unknown)."""
    t = type_name.lower()
    if "char" in t or t.endswith("int8") or t.endswith("int8_t"):
        return 1
    if "short" in t or "16" in t:
        return 2
    if "double" in t or "long" in t or "64" in t:
        return 8
    if "float" in t or "int" in t or "32" in t:
        return 4
    return 8


def read_nrrd_fields(path: Path) -> dict[str, str] | None:
    """Header fields (``key: value``; lower-case keys) of an NRRD file, None if not NRRD.

    Key/value pairs (``key:=value``) are returned with their original keys.
    """
    with open(path, "rb") as fh:
        head = fh.read(_MAX_HEADER)
    if not head.startswith(b"NRRD"):
        return None
    fields: dict[str, str] = {}
    for raw in head.split(b"\n")[1:]:
        line = raw.decode("latin-1").rstrip("\r")
        if not line:
            break
        if line.startswith("#"):
            continue
        if ":=" in line:
            key, value = line.split(":=", 1)
            fields[key] = value
        elif ": " in line:
            key, value = line.split(": ", 1)
            fields[key.strip().lower()] = value.strip()
    return fields


def nrrd_declared_bytes(fields: dict[str, str]) -> int:
    """Bytes of pixel data the header declares (product of sizes × type size)."""
    try:
        sizes = [int(s) for s in fields.get("sizes", "").split()]
    except ValueError:
        return 0
    total = _type_bytes(fields.get("type", ""))
    for s in sizes:
        total *= max(s, 0)
    return total if sizes else 0


def check_data_file(path: Path, fields: dict[str, str]) -> None:
    """InputError when a detached header names a data file that does not exist."""
    name = fields.get("data file") or fields.get("datafile")
    if not name or name.startswith("LIST") or "%" in name or " " in name.strip():
        return
    data = Path(name) if Path(name).is_absolute() else path.parent / name
    if not data.exists():
        raise InputError(f"the data file '{name}' named in the NRRD header {path} is missing")
