"""Plumbing ``lesionloop train`` and ``lesionloop train-classifier`` share.

The settings of a resumed run (:func:`saved_run_config`), the callbacks of a
run with Ctrl-C / ``--stop-file`` and ``--progress-json`` and its error event
(:func:`training_callbacks`), the command recorded in the models' metadata
(:func:`command_line`) and the summary printed after a run (:func:`report_result`).
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core_models.errors import InputError, LesionLoopError


def saved_run_config(args: argparse.Namespace, options: Iterable[str], written_by: str) -> dict[str, Any]:
    """The ``config`` object of ``--out``/config.json for ``--resume``.

    Parameters
    ----------
    args : the parsed command line (``out`` and the options named in ``options``).
    options : argument names whose value comes from config.json; giving one is an error.
    written_by : what the file should be, for the error message, e.g. "a training config
        written by `lesionloop train`".
    """
    given = [f"--{name.replace('_', '-')}" for name in options if getattr(args, name, None) not in (None, False)]
    if given:
        raise InputError(f"with --resume the settings come from {Path(args.out) / 'config.json'}; "
                         f"drop {', '.join(given)}")
    path = Path(args.out) / "config.json"
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))["config"]
    except FileNotFoundError:
        raise InputError(f"nothing to resume: {path} does not exist") from None
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError(f"{path} is not {written_by}") from None
    return saved


def command_line() -> str:
    """This process's command line as ``lesionloop ...`` (recorded in the models' metadata)."""
    return shlex.join(["lesionloop", *sys.argv[1:]])


@contextmanager
def training_callbacks(args: argparse.Namespace, progress_bar: Callable[[], Any], *,
                       main: bool = True) -> Iterator[list[Any]]:
    """The run's callbacks: a stop request (signals and ``--stop-file``) and progress output.

    Progress is JSON lines with ``--progress-json``, else ``progress_bar()``. A
    :class:`LesionLoopError` raised inside the block is also printed as an
    ``error`` event with ``--progress-json`` (when ``main``, i.e. on rank 0);
    the signal handlers are restored on the way out.
    """
    from training.callbacks import JsonLinesCallback, StopRequest

    stop = StopRequest(args.stop_file).install_signals()
    try:
        yield [stop, JsonLinesCallback() if args.progress_json else progress_bar()]
    except LesionLoopError as exc:
        if args.progress_json and main:
            print(json.dumps({"event": "error", "message": str(exc)}), flush=True)
        raise
    finally:
        stop.restore_signals()


def report_result(result: Any, to: Any, *, what: str, command: str, extra: Iterable[str] = ()) -> None:
    """The summary after a run: how it ended, best and last model, how to continue a stopped run.

    Parameters
    ----------
    result : the run's :class:`~training.loop_common.TrainResult`.
    to : the stream printed to.
    what : the run's name in the first line ("training", "classifier training").
    command : the ``lesionloop`` subcommand that continues it ("train").
    extra : lines printed after the best model's line.
    """
    state = "stopped" if result.stopped else "finished"
    print(f"{what} {state} after {result.epochs_done} epoch(s), {result.global_step} steps", file=to)
    if result.best_dir:
        print(f"best {result.best_metric} {result.best_value:.4f} at epoch {result.best_epoch}: {result.best_dir}",
              file=to)
    for line in extra:
        print(line, file=to)
    print(f"last model: {result.last_dir}", file=to)
    if result.stopped:
        print(f"continue with: lesionloop {command} --out {result.out_dir} --resume", file=to)
