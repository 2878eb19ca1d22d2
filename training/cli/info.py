"""``lesionloop info PATH [--series S] [--json]``: what a CT input holds.

Reads the volume as the viewer would and prints its shape, voxel spacing,
position, orientation, value range and the series found. ``--json`` prints
one JSON object instead.
"""
from __future__ import annotations

import argparse
import json
from typing import Any

from core_models.io import read_volume
from core_models.io.planes import slice_plane
from core_models.io.series import plural
from core_models.volume import CTVolume


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="show what a CT input holds (shape, spacing, series...)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", help="DICOM folder or file, NIfTI, NRRD, MHA/MHD, PNG/JPG slice or folder of slices")
    p.add_argument("--series", help="DICOM series index (0 = largest) or SeriesInstanceUID")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def summarize(volume: CTVolume) -> dict[str, Any]:
    """The facts ``info`` prints, as JSON-ready values (spacing, origin in mm)."""
    array = volume.array
    return {
        "source": volume.source,
        "shape": list(volume.shape),
        "spacing": [float(s) for s in volume.spacing],
        "origin": [float(v) for v in volume.origin],
        "direction": [float(v) for v in volume.direction],
        "orientation": volume.geometry.orientation_code(),
        "plane": slice_plane(volume.geometry),
        "modality": volume.modality,
        "hu": bool(volume.is_hu),
        "min": int(array.min()) if array.size else None,
        "max": int(array.max()) if array.size else None,
        "series": volume.meta.get("series", []),
        "warnings": list(volume.meta.get("warnings", [])),
        "format": volume.meta.get("format", ""),
    }


def _fmt(values: list[float], digits: int = 4) -> str:
    return ", ".join(f"{v:.{digits}g}" for v in values)


def human_lines(info: dict[str, Any]) -> list[str]:
    """The summary as aligned ``key: value`` lines."""
    unit = "HU" if info["hu"] else "grey levels"
    z, y, x = info["shape"]
    lines = [
        f"source:      {info['source']}",
        f"shape:       {z} x {y} x {x} (z, y, x)",
        f"spacing:     {_fmt(info['spacing'])} mm (z, y, x)",
        f"origin:      {_fmt(info['origin'], 6)} mm (x, y, z)",
        f"orientation: {info['orientation']} ({info['plane']} slices)",
        f"modality:    {info['modality']} ({'Hounsfield units' if info['hu'] else 'not Hounsfield units'})",
        f"values:      {info['min']} .. {info['max']} {unit}",
    ]
    for i, s in enumerate(info["series"]):
        mark = "*" if s.get("chosen") else " "
        uid = f" {s['uid']}" if s.get("uid") else ""
        desc = f" {s['description']}" if s.get("description") else ""
        lines.append(f"series:     {mark}{i}:{uid}{desc} ({plural(s['n_slices'], 'slice')})")
    lines += [f"warning:     {w}" for w in info["warnings"]]
    return lines


def run(args: argparse.Namespace) -> int:
    volume = read_volume(args.path, series=args.series)
    info = summarize(volume)
    if args.json:
        print(json.dumps(info))
    else:
        print("\n".join(human_lines(info)))
    return 0
