"""The ``lesionloop`` command line (everything but the viewer).

Each subcommand lives in its own module with ``add_parser(subparsers)`` that
registers it and sets ``func`` to a ``run(args) -> int``. Failures the user
can cause arrive as :class:`~core_models.errors.LesionLoopError` and are
printed as one line on stderr with exit status 2; unexpected errors are
printed as one line too, with the traceback written to a log file.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from core_models import __version__
from core_models.errors import LesionLoopError

#: subcommand -> (module, one-line help). Only the module of the subcommand being run is
#: imported, so ``lesionloop info`` does not pay for torch.
COMMANDS: dict[str, tuple[str, str]] = {
    "info": ("training.cli.info", "show what a CT file or folder holds"),
    "phantom": ("training.cli.phantom", "write synthetic chest CT phantoms with exact labels"),
    "infer": ("training.cli.infer", "segment GGO and consolidation with a model"),
    "import-checkpoint": ("training.cli.import_checkpoint", "convert a COVID-CT-Mask-Net checkpoint into a LesionLoop model"),
    "train": ("training.cli.train", "train a segmentation model on labelled slices"),
    "train-classifier": ("training.cli.train_classifier", "train classification module S (Control / CP / COVID-19)"),
    "evaluate": ("training.cli.evaluate", "score a model on labelled slices"),
    "models": ("training.cli.models", "list, activate or roll back model versions"),
    "export": ("training.cli.export", "export a workspace's corrected labels (NIfTI, .seg.nrrd, PNG)"),
}

#: subcommands the viewer handles (see ``main.py``); listed so ``--help`` shows them
VIEWER_COMMANDS = {"view": "open a CT in the viewer", "demo": "the bundled sample in the viewer"}


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line with exit status 2."""

    def error(self, message: str) -> None:  # noqa: D401 - argparse API
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The command-line parser; only ``selected``'s module is imported (all when ``"*"``)."""
    parser = _Parser(prog="lesionloop", description="Review and correct AI lesion segmentation on chest CT.")
    parser.add_argument("--version", action="version", version=f"lesionloop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, helptext in VIEWER_COMMANDS.items():
        sub.add_parser(name, help=helptext, add_help=False)
    for name, (module_name, helptext) in COMMANDS.items():
        if selected in (name, "*"):
            importlib.import_module(module_name).add_parser(sub)
        else:
            sub.add_parser(name, help=helptext, add_help=False)
    return parser


def _log_traceback() -> Path | None:
    from core_models.paths import user_home

    try:
        log_dir = user_home() / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        path = log_dir / "last-error.txt"
        path.write_text(traceback.format_exc(), encoding="utf-8")
        return path
    except OSError:
        return None


def run_command(argv: Sequence[str]) -> int:
    """Parse ``argv`` and run the subcommand; return the exit status."""
    argv = list(argv)
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except LesionLoopError as exc:
        print(f"lesionloop {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"lesionloop {args.command}: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print(f"lesionloop {args.command}: error: not enough memory for this input", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - last line of defence: never a traceback
        log = _log_traceback()
        where = f" (details in {log})" if log else ""
        print(f"lesionloop {args.command}: internal error: {type(exc).__name__}: {exc}{where}", file=sys.stderr)
        return 3
