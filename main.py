"""LesionLoop entry point: ``lesionloop [COMMAND] ...`` or ``python main.py [COMMAND] ...``.

No arguments, ``view`` and ``demo`` open the viewer; every other subcommand is
the Qt-free command line in :mod:`training.cli`.
"""
from __future__ import annotations

import sys
from collections.abc import Sequence

def main(argv: Sequence[str] | None = None) -> int:
    from training.cli import VIEWER_COMMANDS  # light: no torch, no Qt

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in VIEWER_COMMANDS:
        try:
            from viewer.app import run_viewer
        except ImportError as exc:
            print(f"lesionloop: error: the viewer is not available ({exc})", file=sys.stderr)
            return 2
        return run_viewer(args)
    from training.cli import run_command

    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
