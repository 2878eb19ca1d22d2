"""The bookkeeping both training loops share (``lesionloop train`` and ``train-classifier``).

:class:`RunLoop` is a mixin for :class:`training.loop.Trainer` and
:class:`training.classifier.ClassifierTrainer`: the epoch loop, the run's
counters and running loss, the non-finite-loss guard, the step and epoch
lines of ``curves.jsonl``, saving ``last/`` / ``best/`` and the counters'
part of ``state.pt``, and the :class:`TrainResult`. The trainers keep what
differs: the step itself, validation, the model specs and the checks on
resume.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from core_models.checkpoints import save_model
from core_models.errors import LesionLoopError
from core_models.model_spec import ModelSpec
from training.run_state import restore_rng, rng_state

#: non-finite losses in a row that stop a run with an error
MAX_NONFINITE = 20


@dataclass
class TrainResult:
    """How a run ended."""

    out_dir: str
    epochs_done: int
    global_step: int
    stopped: bool
    best_metric: str
    best_value: float | None = None
    best_epoch: int | None = None
    best_dir: str | None = None
    last_dir: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def rng_untouched() -> Any:
    """A context after which the CPU (and CUDA) random generators are as before it."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    return torch.random.fork_rng(devices=devices)


class RunLoop:
    """Mixin: the loop and bookkeeping of a run; the host defines the attributes and hooks below.

    The host sets ``config`` (``epochs``, ``best_metric``, ``log_every``), ``out``,
    ``callbacks``, ``curves``, ``timer``, ``model``, ``optimizer`` and ``scheduler``,
    calls :meth:`_reset_counters` in ``__init__`` and defines ``_train_epoch(epoch)``,
    ``_end_epoch(epoch)``, ``_save_all(validated)`` and ``_spec_for(version)``.
    """

    config: Any
    out: Any
    callbacks: Any
    curves: Any
    timer: Any
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    _train_epoch: Callable[[int], bool]
    _end_epoch: Callable[[int], None]
    _save_all: Callable[[bool], None]
    _spec_for: Callable[[str], ModelSpec]

    def _reset_counters(self) -> None:
        self.epoch = self.step_in_epoch = self.global_step = self.nonfinite = 0
        self.loss_sum, self.loss_count = 0.0, 0
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self.metrics: dict[str, Any] = {}

    def _run_epochs(self) -> TrainResult:
        """Epochs from ``self.epoch`` to the last or to a stop (a stop saves ``last/`` and ``state.pt``)."""
        stopped = False
        for epoch in range(self.epoch, self.config.epochs):
            self.epoch = epoch
            stopped = self._train_epoch(epoch)
            if stopped:
                break
            self._end_epoch(epoch)
        if stopped:
            self._save_all(False)
        return self._result(stopped)

    def _count_nonfinite(self, lr: float) -> None:
        """A step whose loss was not finite: no update; :data:`MAX_NONFINITE` in a row raise."""
        self.optimizer.zero_grad(set_to_none=True)
        self.nonfinite += 1
        if self.nonfinite >= MAX_NONFINITE:
            raise LesionLoopError(f"training diverged: the loss was not finite for {MAX_NONFINITE} steps in a row "
                                  f"(try a lower --lr than {lr:g})")

    def _add_loss(self, losses: dict[str, float]) -> None:
        """Count a step's finite ``loss`` into the epoch's mean training loss."""
        if math.isfinite(losses["loss"]):
            self.loss_sum += losses["loss"]
            self.loss_count += 1

    def _log_step(self, epoch: int, losses: dict[str, float]) -> None:
        """The step line of ``curves.jsonl`` (every ``log_every`` steps and the first) and ``on_step``."""
        if self.global_step % self.config.log_every == 0 or self.global_step == 1:
            self.curves.add({"kind": "step", "epoch": epoch + 1, "step": self.global_step, **losses})
            self.curves.flush()
        self.callbacks.on_step(epoch + 1, self.global_step, losses)

    def _train_loss(self) -> dict[str, Any]:
        """The epoch's figures so far: its mean finite training loss (NaN when none)."""
        return {"train_loss": self.loss_sum / self.loss_count if self.loss_count else math.nan}

    def _close_epoch(self, epoch: int, metrics: dict[str, Any]) -> None:
        """Counters after ``epoch``: the next epoch starts, the running loss restarts."""
        self.epoch, self.step_in_epoch = epoch + 1, 0
        self.loss_sum, self.loss_count = 0.0, 0
        self.metrics = metrics

    def _log_epoch(self, epoch: int, metrics: dict[str, Any]) -> None:
        """The epoch line of ``curves.jsonl`` and ``on_epoch_end``."""
        self.curves.add({"kind": "epoch", "epoch": epoch + 1, "step": self.global_step, **metrics})
        self.curves.flush()
        self.callbacks.on_epoch_end(epoch + 1, metrics)

    def _is_better(self) -> bool:
        value = self.metrics.get(self.config.best_metric)
        if value is None or not math.isfinite(value):
            return False
        return self.best_value is None or value > self.best_value

    def _save_models(self, version: str, validated: bool) -> None:
        """``last/`` and, when this epoch is validated and the best so far, ``best/``."""
        self.out.mkdir(parents=True, exist_ok=True)
        with rng_untouched():  # save_model builds a model to check the weights: that draws random numbers
            save_model(self.model, self._spec_for(f"{version}-last"), self.out / "last")
            if validated and self._is_better():
                self.best_value, self.best_epoch = float(self.metrics[self.config.best_metric]), self.epoch
                save_model(self.model, self._spec_for(version), self.out / "best")

    def _counter_state(self) -> dict[str, Any]:
        """The part of ``state.pt`` both loops write: counters, weights, optimiser, scheduler, RNGs."""
        return {"epoch": self.epoch, "step_in_epoch": self.step_in_epoch, "global_step": self.global_step,
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "best_value": self.best_value,
                "best_epoch": self.best_epoch, "metrics": dict(self.metrics),
                "epoch_loss": [self.loss_sum, self.loss_count], "rng": rng_state()}

    def _restore_counters(self, state: dict[str, Any]) -> None:
        """Load what :meth:`_counter_state` saved (the RNGs last)."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.step_in_epoch = int(state["epoch"]), int(state["step_in_epoch"])
        self.global_step = int(state["global_step"])
        self.best_value, self.best_epoch = state["best_value"], state["best_epoch"]
        self.metrics = dict(state["metrics"])
        self.loss_sum, self.loss_count = float(state["epoch_loss"][0]), int(state["epoch_loss"][1])
        restore_rng(state["rng"])

    def _result(self, stopped: bool) -> TrainResult:
        best = self.out / "best"
        return TrainResult(str(self.out), self.epoch, self.global_step, stopped, self.config.best_metric,
                           self.best_value, self.best_epoch, str(best) if self.best_epoch else None,
                           str(self.out / "last"), dict(self.metrics))
