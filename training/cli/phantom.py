"""``lesionloop phantom``: write synthetic chest CT cases with exact lesion labels.

Example::

    lesionloop phantom --out phantoms --cases 6 --seed 1 --kind mixed --png
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core_models.phantom import KINDS, PhantomConfig, write_phantoms


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``phantom`` subcommand."""
    parser = subparsers.add_parser(
        "phantom", help="write synthetic chest CT phantoms with exact lesion labels",
        description="Write deterministic synthetic chest CT volumes (int16 HU, NIfTI) with label maps "
                    "(0 background, 1 ground-glass opacity, 2 consolidation), a cases.json manifest, "
                    "and optionally 8-bit lung-window PNG slices with seed-convention masks.")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder (created if missing)")
    parser.add_argument("--cases", type=int, default=1, metavar="N", help="number of cases (default 1)")
    parser.add_argument("--seed", type=int, default=0, metavar="S",
                        help="series seed: same seed, same files (default 0)")
    parser.add_argument("--size", type=int, default=512, metavar="PX", help="pixels per slice side (default 512)")
    parser.add_argument("--slices", type=int, default=48, metavar="K", help="slices per case (default 48)")
    parser.add_argument("--kind", choices=KINDS, default="mixed",
                        help="case class: covid, cap (common pneumonia), normal, or mixed (cycles; default)")
    parser.add_argument("--z-spacing", type=float, default=None, metavar="MM",
                        help="slice spacing in mm (default: 1.25-2.5 drawn per case)")
    parser.add_argument("--png", action="store_true",
                        help="also write png/imgs and png/masks in the seed's layout")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Generate and write the cases; print one progress line per case on stderr."""
    config = PhantomConfig(size=args.size, slices=args.slices, kind=args.kind, z_spacing_mm=args.z_spacing)
    progress = None if args.quiet else _print_progress
    manifest = write_phantoms(args.out, args.cases, args.seed, config, png=args.png, progress=progress)
    kinds = sorted({case["kind"] for case in manifest["cases"]})
    print(f"wrote {len(manifest['cases'])} phantom case(s) ({', '.join(kinds)}) to {args.out}; "
          f"manifest {Path(args.out) / 'cases.json'}")
    return 0


def _print_progress(done: int, total: int, message: str) -> None:
    print(f"phantom {done}/{total}: {message}", file=sys.stderr, flush=True)
