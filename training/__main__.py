"""``python -m training COMMAND ...``: the ``lesionloop`` command line without the viewer.

The viewer launches training as a separate process with
``python -m training train ... --progress-json``; ``torchrun -m training train``
runs distributed training.
"""
from __future__ import annotations

import sys
from collections.abc import Sequence

from training import cli


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; returns the exit status."""
    return cli.run_command(list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
