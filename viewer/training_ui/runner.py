"""Running ``python -m training …`` as a separate process and reading its JSON progress.

Training never runs inside the viewer: a crash or an out-of-memory kill of the
child leaves the window alive. :class:`TrainingRunner` starts the child with
:class:`~PySide6.QtCore.QProcess`, parses its stdout (one JSON object per
line, see :mod:`training.callbacks` and :mod:`training.cli.train`), forwards
stderr to the log, estimates the time left, and ends with a
:class:`RunOutcome` carrying one line for the user. Cancel creates the stop
file (the run stops after its current step and saves its state), then kills
the child if it has not ended after a grace period.
"""
from __future__ import annotations

import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

#: seconds between the stop file and a kill
GRACE_S = 30.0
#: the line :func:`training.cli.train.register_result` prints (``train-classifier`` has no JSON event for it)
REGISTERED_RE = re.compile(r" as model version (\S+) \(activate it")
#: the package root, put on the child's PYTHONPATH so ``-m training`` resolves to this code
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RunOutcome:
    """How a training process ended.

    Attributes
    ----------
    ok : bool
        Exit status 0 and training not stopped.
    stopped : bool
        Cancelled (gracefully, or killed after the grace period: ``killed``).
    killed : bool
    exit_code : int or None
        ``None`` when the process crashed or never started.
    message : str
        One line for the user.
    result : dict or None
        The ``end`` event (epochs done, best model, ...).
    table : dict or None
        The ``compare`` event (before/after table).
    version : str or None
        The registered version.
    """

    ok: bool
    stopped: bool = False
    killed: bool = False
    exit_code: int | None = None
    message: str = ""
    result: dict[str, Any] | None = None
    table: dict[str, Any] | None = None
    version: str | None = None


def format_seconds(seconds: float) -> str:
    """``45 s``, ``3 min 05 s``, ``1 h 02 min``."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


class TrainingRunner(QObject):
    """One training process at a time; signals arrive on the GUI thread."""

    started = Signal()
    event = Signal(dict)  # every JSON event, as parsed
    stepped = Signal(int, int, float)  # step, total steps, seconds left (-1: not known yet)
    epochEnded = Signal(int, dict)  # epoch (from 1), validation metrics
    compared = Signal(dict)  # the before/after table
    registered = Signal(str)  # new version name
    logLine = Signal(str)
    finished = Signal(object)  # RunOutcome

    def __init__(self, parent: QObject | None = None, grace_s: float = GRACE_S) -> None:
        super().__init__(parent)
        self.grace_s = grace_s
        self.process: QProcess | None = None
        self.stop_file: Path | None = None
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._kill_now)
        self._reset()

    def _reset(self) -> None:
        self._buffers = {"out": b"", "err": b""}
        self._error_event = ""
        self._last_err = ""
        self._cancelled = self._killed = False
        self._total = 0
        self._first_step: tuple[int, float] | None = None
        self._result: dict[str, Any] | None = None
        self._table: dict[str, Any] | None = None
        self._version: str | None = None

    @property
    def running(self) -> bool:
        return self.process is not None

    # -- starting --------------------------------------------------------------------------
    def start_training(self, args: list[str], stop_file: str | Path | None = None) -> bool:
        """Run ``sys.executable -m training ARGS`` (e.g. from :func:`training.retrain.prepare_run`)."""
        return self.launch(sys.executable, ["-m", "training", *map(str, args)], stop_file)

    def launch(self, program: str, arguments: list[str], stop_file: str | Path | None = None) -> bool:
        """Start ``program arguments``; False (and ``finished``) when it cannot start or one is running."""
        if self.running:
            self.logLine.emit("a training process is already running")
            return False
        self._reset()
        self.stop_file = Path(stop_file) if stop_file else None
        if self.stop_file is not None:
            self.stop_file.unlink(missing_ok=True)
        proc = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        env.insert("PYTHONPATH", os.pathsep.join(p for p in (str(_PACKAGE_ROOT), env.value("PYTHONPATH", "")) if p))
        proc.setProcessEnvironment(env)
        proc.setWorkingDirectory(str(_PACKAGE_ROOT))
        proc.readyReadStandardOutput.connect(lambda: self._read("out"))
        proc.readyReadStandardError.connect(lambda: self._read("err"))
        proc.finished.connect(self._on_finished)
        proc.errorOccurred.connect(self._on_error)
        self.process = proc
        self._started_at = time.monotonic()
        self.logLine.emit("$ " + " ".join([Path(program).name, *arguments]))
        proc.start(program, arguments)
        self.started.emit()
        return True

    # -- stopping --------------------------------------------------------------------------
    def cancel(self, grace_s: float | None = None) -> None:
        """Ask the run to stop (stop file); kill it when it has not ended after ``grace_s`` seconds."""
        if not self.running or self._cancelled:
            return
        self._cancelled = True
        grace = self.grace_s if grace_s is None else grace_s
        if self.stop_file is not None:
            try:
                self.stop_file.parent.mkdir(parents=True, exist_ok=True)
                self.stop_file.write_text("stop\n", encoding="utf-8")
            except OSError as exc:
                self.logLine.emit(f"cannot write the stop file {self.stop_file}: {exc}")
                grace = 0.0
        self.logLine.emit(f"cancelling: the run stops after its current step (ended after {grace:.0f} s at most)")
        self._kill_timer.start(int(grace * 1000))

    def kill(self) -> None:
        """End the process at once (window closing)."""
        if self.running:
            self._cancelled = True
            self._kill_now()
            self.process.waitForFinished(5000)

    def _kill_now(self) -> None:
        if self.process is not None:
            self._killed = True
            self.logLine.emit("the training process did not stop in time: killed")
            self.process.kill()

    # -- reading ---------------------------------------------------------------------------
    def _read(self, channel: str) -> None:
        if self.process is None:
            return
        data = bytes(self.process.readAllStandardOutput() if channel == "out" else self.process.readAllStandardError())
        self._buffers[channel] += data
        *lines, self._buffers[channel] = self._buffers[channel].split(b"\n")
        for raw in lines:
            self._line(channel, raw.decode("utf-8", "replace"))

    def _line(self, channel: str, text: str) -> None:
        text = text.rstrip("\r").split("\r")[-1].rstrip()  # a terminal progress bar keeps its last state
        if not text:
            return
        if channel == "out" and text.startswith("{"):
            try:
                event = json.loads(text)
            except ValueError:
                event = None
            if isinstance(event, dict) and "event" in event:
                self._dispatch(event)
                return
        if channel == "err":
            self._last_err = text
            found = REGISTERED_RE.search(text)
            if found and self._version is None:  # a command that prints its registration only as text
                self._version = found.group(1)
                self.registered.emit(self._version)
        self.logLine.emit(text)

    def _dispatch(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "start":
            self._total = int(event.get("total_steps") or 0)
            self.logLine.emit(f"training {event.get('train_slices')} slices ({event.get('val_slices')} validation) "
                              f"on {event.get('device')}: {event.get('epochs')} epochs x "
                              f"{event.get('steps_per_epoch')} steps")
        elif kind == "step":
            self._on_step(int(event.get("step") or 0))
        elif kind == "epoch_end":
            self.epochEnded.emit(int(event.get("epoch") or 0), dict(event.get("metrics") or {}))
        elif kind == "end":
            self._result = event
        elif kind == "compare":
            self._table = event
            self.compared.emit(event)
        elif kind == "registered" and self._version is None:
            self._version = str(event.get("version"))
            self.registered.emit(self._version)
        elif kind == "error":
            self._error_event = str(event.get("message") or "")
        elif kind == "stage":
            self.logLine.emit(str(event.get("message") or ""))
        self.event.emit(event)

    def _on_step(self, step: int) -> None:
        now = time.monotonic()
        if self._first_step is None:
            self._first_step = (step, now)
        first, t0 = self._first_step
        left = -1.0
        if step > first and self._total:
            left = (now - t0) / (step - first) * max(self._total - step, 0)
        self.stepped.emit(step, self._total, left)

    # -- ending ----------------------------------------------------------------------------
    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and self.process is not None:
            self._finish(RunOutcome(False, message=f"cannot start the training process: "
                                                   f"{self.process.errorString()}"))

    def _on_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        for channel in ("out", "err"):
            self._read(channel)
            rest, self._buffers[channel] = self._buffers[channel], b""
            if rest.strip():
                self._line(channel, rest.decode("utf-8", "replace"))
        crashed = status == QProcess.ExitStatus.CrashExit
        self._finish(self._outcome(None if crashed else int(code)))

    def _outcome(self, code: int | None) -> RunOutcome:
        stopped = bool(self._result and self._result.get("stopped"))
        common = dict(exit_code=code, result=self._result, table=self._table, version=self._version)
        if self._killed:
            return RunOutcome(False, stopped=True, killed=True, message="training was cancelled and its process "
                              "ended; nothing was registered", **common)
        if code is None:
            why = f" ({self._last_err})" if self._last_err else ""
            return RunOutcome(False, message="the training process crashed or was killed by the system (for "
                              f"example out of memory); nothing was registered{why}", **common)
        if code != 0:
            line = self._error_event or self._last_err or f"training failed with exit status {code}"
            return RunOutcome(False, message=line, **common)
        if stopped or self._cancelled:
            done = self._result.get("epochs_done") if self._result else 0
            return RunOutcome(False, stopped=True, message=f"training was cancelled after {done} epoch(s); "
                              "nothing was registered", **common)
        took = format_seconds(time.monotonic() - self._started_at)
        what = f"; registered as {self._version}" if self._version else ""
        return RunOutcome(True, message=f"training finished in {took}{what}", **common)

    def _finish(self, outcome: RunOutcome) -> None:
        self._kill_timer.stop()
        proc, self.process = self.process, None
        if proc is not None:
            proc.deleteLater()
        if self.stop_file is not None:
            self.stop_file.unlink(missing_ok=True)
        self.logLine.emit(outcome.message)
        self.finished.emit(outcome)
