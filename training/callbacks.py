"""Training callbacks: how a run reports progress and how it is asked to stop.

A callback is any object with these methods (subclass :class:`Callback` to
get no-op defaults):

- ``on_start(info: dict)`` - once, before the first step: ``epochs``,
  ``steps_per_epoch``, ``total_steps``, ``start_epoch``, ``start_step``,
  ``device``, ``world_size``, ``train_slices``, ``val_slices``, ``out``,
  ``parameters``;
- ``on_step(epoch, step, losses: dict)`` - after each optimiser step;
  ``step`` counts steps from 1 over the whole run, ``losses`` holds each loss
  term, ``loss`` (their sum), ``lr`` and ``images_per_s``;
- ``on_epoch_end(epoch, metrics: dict)`` - after validation and checkpoints
  (``epoch`` from 1; metrics ``train_loss``, ``dice_*``, ``map``, ``ap50``, ...);
- ``on_end(result)`` - once, with the :class:`~training.loop.TrainResult`;
- ``should_stop() -> bool`` - polled between steps; True stops gracefully:
  the run saves ``last/`` and ``state.pt`` so ``--resume`` continues it.

In distributed runs only rank 0 calls callbacks; a stop request is shared
with every rank.
"""
from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from core_models.atomic import json_safe
from training.cli.progress import ProgressBar

#: figures the progress bar prints after each epoch
SHOWN_METRICS = ("train_loss", "dice_ggo", "dice_consolidation", "dice_binary", "map", "ap50")


class Callback:
    """Base class with no-op hooks."""

    def on_start(self, info: dict[str, Any]) -> None:
        """Called once before training starts."""

    def on_step(self, epoch: int, step: int, losses: dict[str, float]) -> None:
        """Called after each optimiser step."""

    def on_epoch_end(self, epoch: int, metrics: dict[str, Any]) -> None:
        """Called after each epoch's validation and checkpoints."""

    def on_end(self, result: Any) -> None:
        """Called once when training ends (finished or stopped)."""

    def should_stop(self) -> bool:
        """True asks the run to stop at the next step boundary."""
        return False


class CallbackList(Callback):
    """Dispatches each event to several callbacks; stops when any of them asks."""

    def __init__(self, callbacks: Iterable[Any] = ()) -> None:
        self.callbacks = list(callbacks)

    def on_start(self, info: dict[str, Any]) -> None:
        for cb in self.callbacks:
            cb.on_start(info)

    def on_step(self, epoch: int, step: int, losses: dict[str, float]) -> None:
        for cb in self.callbacks:
            cb.on_step(epoch, step, losses)

    def on_epoch_end(self, epoch: int, metrics: dict[str, Any]) -> None:
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, metrics)

    def on_end(self, result: Any) -> None:
        for cb in self.callbacks:
            cb.on_end(result)

    def should_stop(self) -> bool:
        return any(cb.should_stop() for cb in self.callbacks)


class ProgressBarCallback(Callback):
    """The terminal progress bar on stderr: steps, epoch, loss and throughput."""

    def __init__(self, stream: TextIO | None = None, interval: float = 5.0) -> None:
        self.bar = ProgressBar("train", stream=stream, interval=interval)
        self.stream = stream or sys.stderr
        self.total = 1
        self.epochs = 1

    def on_start(self, info: dict[str, Any]) -> None:
        self.total, self.epochs = int(info["total_steps"]), int(info["epochs"])
        self.stream.write(f"training {info['train_slices']} slices ({info['val_slices']} validation) on "
                          f"{info['device']}, {self.epochs} epochs x {info['steps_per_epoch']} steps\n")

    def on_step(self, epoch: int, step: int, losses: dict[str, float]) -> None:
        message = (f"epoch {epoch}/{self.epochs} step {step}/{self.total} loss {losses.get('loss', math.nan):.3f} "
                   f"{losses.get('images_per_s', 0.0):.2f} img/s")
        self.bar.update(min(step, self.total - 1), self.total, message)

    def on_epoch_end(self, epoch: int, metrics: dict[str, Any]) -> None:
        shown = ", ".join(f"{k} {metrics[k]:.3f}" for k in SHOWN_METRICS
                          if isinstance(metrics.get(k), float) and math.isfinite(metrics[k]))
        self.stream.write(f"\nepoch {epoch}/{self.epochs}: {shown}\n")
        self.stream.flush()

    def on_end(self, result: Any) -> None:
        self.bar.update(self.total, self.total, "stopped" if result.stopped else "done")


class JsonLinesCallback(Callback):
    """One JSON object per event on a stream (stdout): for the viewer, which runs training
    as a separate process and reads these lines.

    Events: ``{"event": "start", ...info}``, ``{"event": "step", "epoch", "step", "losses"}``,
    ``{"event": "epoch_end", "epoch", "metrics"}``, ``{"event": "end", ...result}``.
    Non-finite numbers are written as ``null``.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def _emit(self, event: str, body: dict[str, Any]) -> None:
        self.stream.write(json.dumps({"event": event, **json_safe(body)}) + "\n")
        self.stream.flush()

    def on_start(self, info: dict[str, Any]) -> None:
        self._emit("start", info)

    def on_step(self, epoch: int, step: int, losses: dict[str, float]) -> None:
        self._emit("step", {"epoch": epoch, "step": step, "losses": losses})

    def on_epoch_end(self, epoch: int, metrics: dict[str, Any]) -> None:
        self._emit("epoch_end", {"epoch": epoch, "metrics": metrics})

    def on_end(self, result: Any) -> None:
        self._emit("end", result.to_json())


class StopRequest(Callback):
    """Asks the run to stop on SIGINT/SIGTERM (once; a second Ctrl-C interrupts hard)
    or when a stop file appears (how the viewer cancels on every platform).
    """

    def __init__(self, stop_file: str | os.PathLike[str] | None = None) -> None:
        self.stop_file = Path(stop_file) if stop_file else None
        self.requested = False
        self._previous: dict[int, Any] = {}

    def install_signals(self) -> StopRequest:
        """Catch SIGINT and SIGTERM (main thread only); returns self."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def restore_signals(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def request(self) -> None:
        """Ask the run to stop (thread-safe: a flag)."""
        self.requested = True

    def should_stop(self) -> bool:
        if not self.requested and self.stop_file is not None and self.stop_file.exists():
            self.requested = True
        return self.requested

    def on_end(self, result: Any) -> None:
        self.restore_signals()


class Timer:
    """Images per second over the last steps (exponential moving average)."""

    def __init__(self, smoothing: float = 0.3) -> None:
        self.smoothing = smoothing
        self.rate: float | None = None
        self._last = time.perf_counter()

    def tick(self, images: int) -> float:
        now = time.perf_counter()
        elapsed = max(now - self._last, 1e-9)
        self._last = now
        current = images / elapsed
        self.rate = current if self.rate is None else self.smoothing * current + (1 - self.smoothing) * self.rate
        return self.rate

    def reset(self) -> None:
        self._last = time.perf_counter()

