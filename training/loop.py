"""The segmentation training loop behind ``lesionloop train``.

:func:`train` runs a :class:`~training.config.TrainConfig` and returns a
:class:`TrainResult`. A run folder ``out`` receives:

- ``best/`` and ``last/``: model folders (:func:`core_models.checkpoints.save_model`)
  whose spec metadata holds ``created``, ``command``, ``data_hash``, the
  epoch's ``metrics`` and ``parent`` (the ``--init`` model's version);
  ``best/`` only when there is validation data;
- ``state.pt``: everything ``resume=True`` needs to continue exactly
  (see :mod:`training.run_state`), saved after every epoch and on a stop;
- ``curves.jsonl``: one JSON line per logged step and per epoch;
- ``config.json``: the settings, the resolved model spec and the slice ids.

Each step: forward under autocast (CUDA only: bfloat16 where supported,
else float16 with gradient scaling), backward, gradient clipping, AdamW,
scheduler. A non-finite loss skips the update; 20 in a row stop the run
with an error. Between steps the callbacks' ``should_stop`` is polled; a
stop saves ``last/`` and ``state.pt``. Each epoch ends with validation on
rank 0 through :mod:`training.evaluate` (i.e. :mod:`core_models.inference`).

The detector's own transform is told not to resize during training
(torchvision's ``_skip_resize``): the augmentation has already resized to
``image_size`` and zoomed/cropped, so objects keep the scale the model sees
at inference, where the transform resizes the long side to ``image_size``.
"""
from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from core_models.atomic import atomic_write_json
from core_models.devices import describe_device
from core_models.errors import InputError
from core_models.model_spec import ModelMetadata, ModelSpec
from core_models.nets import count_parameters
from training import distributed
from training.augment import Augmenter
from training.callbacks import CallbackList, Timer
from training.config import TrainConfig
from training.data.splits import data_hash
from training.data.torch_dataset import ResumableSampler, SliceDataset, batches_per_epoch, collate
from training.distributed import DistContext
from training.evaluate import evaluate_samples
from training.loop_common import MAX_NONFINITE, RunLoop, TrainResult, rng_untouched
from training.optim import make_optimizer, make_scheduler
from training.prepare import build_model_and_spec, make_reader, prime_roi_pool_scales, resolve_data, trainable_part
from training.run_state import CURVES_NAME, STATE_NAME, CurveLog, load_state, save_state

CONFIG_NAME = "config.json"
__all__ = ["CONFIG_NAME", "MAX_NONFINITE", "TrainResult", "Trainer", "seed_everything", "set_training_resize", "train"]


def train(config: TrainConfig, callbacks: Iterable[Any] = (), *, resume: bool = False,
          command: str | None = None) -> TrainResult:
    """Train (or, with ``resume``, continue) the run described by ``config``.

    Parameters
    ----------
    config : the settings; ``config.out`` is the run folder.
    callbacks : objects with the hooks of :mod:`training.callbacks`.
    resume : continue from ``out/state.pt`` exactly where it stopped.
    command : recorded in the models' metadata (default: this process's command line).
    """
    ctx = distributed.setup(config.device)
    try:
        trainer = Trainer(config, ctx, CallbackList(callbacks), command)
        return trainer.run(resume)
    finally:
        distributed.cleanup(ctx)


def seed_everything(seed: int) -> None:
    """Seed torch, numpy's global generator and Python's ``random``."""
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def set_training_resize(detector: torch.nn.Module, skip: bool = True) -> None:
    """Tell torchvision's ``GeneralizedRCNNTransform`` not to resize in training mode."""
    transform = getattr(detector, "transform", None)
    if transform is not None:
        transform._skip_resize = skip


class _Amp:
    """Autocast and gradient scaling for one device."""

    def __init__(self, device: torch.device, enabled: bool) -> None:
        self.dtype = None
        if enabled and device.type == "cuda":
            self.dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.device_type = device.type
        self.scaler = torch.amp.GradScaler("cuda") if self.dtype == torch.float16 else None

    def autocast(self) -> Any:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)


class Trainer(RunLoop):
    """One training run (see :func:`train`)."""

    def __init__(self, config: TrainConfig, ctx: DistContext, callbacks: CallbackList, command: str | None) -> None:
        self.config, self.ctx, self.callbacks = config, ctx, callbacks
        self.command = command if command is not None else " ".join(sys.argv)
        self.out = Path(config.out)
        seed_everything(config.seed)
        self.data = resolve_data(config)
        model, self.spec = build_model_and_spec(config, self.data.train)
        self.model = model.to(ctx.device)
        self.detector = trainable_part(self.model)
        set_training_resize(self.detector)
        with rng_untouched():
            prime_roi_pool_scales(self.detector)
        self.net = distributed.wrap(self.detector, ctx)
        torch.manual_seed(config.seed + ctx.rank)
        self.reader = make_reader(self.spec)
        self._make_loader()
        self.optimizer = make_optimizer(self.detector, config.learning_rate, config.weight_decay)
        self.scheduler = make_scheduler(self.optimizer, self.total_steps, config.warmup_fraction, config.min_lr_ratio)
        self.amp = _Amp(ctx.device, config.amp)
        self._reset_counters()
        self.curves = CurveLog(self.out / CURVES_NAME, enabled=ctx.is_main)
        self.data_hash = data_hash(self.data.train, self.reader) if ctx.is_main else ""
        self.val_samples = [self.reader.load(r) for r in self.data.val] if ctx.is_main else []
        self.val_hash = data_hash(self.data.val, self.reader) if ctx.is_main and self.data.val else None
        self.timer = Timer()

    def _make_loader(self) -> None:
        cfg, ctx = self.config, self.ctx
        semantic = getattr(self.detector, "semantic_head", None) is not None
        augmenter = Augmenter(cfg.augment, self.spec.preprocessing.max_size)
        self.dataset = SliceDataset(self.data.train, self.reader, augmenter, mask_type=self.spec.mask_type,
                                    min_area=cfg.min_area, semantic=semantic, seed=cfg.seed)
        self.sampler = ResumableSampler(self.dataset, ctx.world_size, ctx.rank, cfg.seed)
        # its own generator: creating an epoch's iterator must not draw from the global RNG (exact resume)
        self.loader = DataLoader(self.dataset, batch_size=cfg.batch, sampler=self.sampler, collate_fn=collate,
                                 num_workers=cfg.workers, pin_memory=ctx.device.type == "cuda",
                                 generator=torch.Generator().manual_seed(cfg.seed))
        self.steps_per_epoch = batches_per_epoch(len(self.dataset), cfg.batch, ctx.world_size)
        self.total_steps = self.steps_per_epoch * cfg.epochs

    # ------------------------------------------------------------------ run
    def run(self, resume: bool = False) -> TrainResult:
        """Train to the last epoch or until a stop; returns the result (rank 0's view)."""
        if resume:
            self._resume()
        if self.ctx.is_main:
            self._write_config()
            self.callbacks.on_start(self._info())
        result = self._run_epochs()
        if self.ctx.is_main:
            self.callbacks.on_end(result)
        distributed.barrier(self.ctx)
        return result

    def _train_epoch(self, epoch: int) -> bool:
        """Steps of one epoch; True when a stop was requested."""
        self.dataset.set_epoch(epoch)
        self.sampler.set_epoch(epoch, skip=self.step_in_epoch * self.config.batch)
        self.net.train()
        self.timer.reset()
        for images, targets in self.loader:
            if distributed.any_rank(self.callbacks.should_stop(), self.ctx):
                return True
            losses = self._step(images, targets)
            self.step_in_epoch += 1
            self.global_step += 1
            self._after_step(epoch, losses, len(images))
        return False

    def _step(self, images: list[torch.Tensor], targets: list[dict[str, torch.Tensor]]) -> dict[str, float]:
        device = self.ctx.device
        images = [img.to(device, non_blocking=True) for img in images]
        targets = [{k: v.to(device, non_blocking=True) for k, v in t.items()} for t in targets]
        with self.amp.autocast():
            loss_dict = self.net(images, targets)
        loss = sum(loss_dict.values())
        self.optimizer.zero_grad(set_to_none=True)
        (self.amp.scaler.scale(loss) if self.amp.scaler else loss).backward()
        finite = not distributed.any_rank(not bool(torch.isfinite(loss.detach())), self.ctx)
        if finite:
            self._update()
            self.nonfinite = 0
        else:
            self._skip_update()
        self.step_lr = float(self.optimizer.param_groups[0]["lr"])
        self.scheduler.step()
        values = {k: float(v.detach()) for k, v in loss_dict.items()}
        values["loss"] = float(loss.detach())
        return values

    def _update(self) -> None:
        params = [p for p in self.detector.parameters() if p.requires_grad]
        if self.amp.scaler:
            self.amp.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(params, self.config.grad_clip)
        if self.amp.scaler:
            self.amp.scaler.step(self.optimizer)
            self.amp.scaler.update()
        else:
            self.optimizer.step()

    def _skip_update(self) -> None:
        self._count_nonfinite(self.config.learning_rate)

    def _after_step(self, epoch: int, losses: dict[str, float], n_images: int) -> None:
        self._add_loss(losses)
        losses["lr"] = self.step_lr
        losses["images_per_s"] = self.timer.tick(n_images * self.ctx.world_size)
        if self.ctx.is_main:
            self._log_step(epoch, losses)

    # ------------------------------------------------------------ epochs
    def _end_epoch(self, epoch: int) -> None:
        metrics = self._train_loss()
        if self.ctx.is_main and self.val_samples:
            with rng_untouched():
                report = evaluate_samples(self.model, self.spec, self.val_samples, device=str(self.ctx.device),
                                          batch_size=self.config.val_batch, min_area=self.config.min_area)
            metrics.update(report["summary"])
        self.net.train()
        self._close_epoch(epoch, metrics)
        self._save_all(validated=bool(self.val_samples))
        if self.ctx.is_main:
            self._log_epoch(epoch, metrics)
        distributed.barrier(self.ctx)

    def _save_all(self, validated: bool) -> None:
        """``last/``, ``best/`` when this epoch is the best so far, and ``state.pt`` (rank 0)."""
        if not self.ctx.is_main:
            return
        self._save_models(self.spec.metadata.version, validated)
        save_state(self.out / STATE_NAME, self._state())

    def _spec_for(self, version: str) -> ModelSpec:
        meta = self.spec.metadata
        metrics = {**{k: v for k, v in self.metrics.items() if isinstance(v, (int, float))}, "epoch": self.epoch,
                   "step": self.global_step, "val_slices": len(self.val_samples), "validation": self.val_hash}
        metadata = ModelMetadata(version=version, parent=meta.parent, data_hash=self.data_hash, metrics=metrics,
                                 command=self.command, notes=meta.notes)
        return replace(self.spec, metadata=metadata)

    # ------------------------------------------------------------ state
    def _state(self) -> dict[str, Any]:
        return {**self._counter_state(), "scaler": self.amp.scaler.state_dict() if self.amp.scaler else None,
                "data_hash": self.data_hash, "world_size": self.ctx.world_size, "batch": self.config.batch}

    def _resume(self) -> None:
        state = load_state(self.out / STATE_NAME)
        self._check_resumable(state)
        if self.amp.scaler and state.get("scaler"):
            self.amp.scaler.load_state_dict(state["scaler"])
        self._restore_counters(state)
        if self.ctx.distributed:
            torch.manual_seed(self.config.seed + self.ctx.rank + 7919 * self.global_step)
        self.curves.resume(self.global_step)

    def _check_resumable(self, state: dict[str, Any]) -> None:
        if int(state.get("world_size", 1)) != self.ctx.world_size or int(state.get("batch", 0)) != self.config.batch:
            raise InputError(f"the run in {self.out} was trained with {state.get('world_size')} process(es) and "
                             f"batch {state.get('batch')}; resume it with the same")
        if self.ctx.is_main and state.get("data_hash") != self.data_hash:
            raise InputError(f"the training data changed since the run in {self.out} started; "
                             "start a new run (or use --init with its last model)")

    # ------------------------------------------------------------ reports
    def _info(self) -> dict[str, Any]:
        return {"epochs": self.config.epochs, "steps_per_epoch": self.steps_per_epoch,
                "total_steps": self.total_steps, "start_epoch": self.epoch + 1, "start_step": self.global_step,
                "device": describe_device(self.ctx.device), "world_size": self.ctx.world_size,
                "train_slices": len(self.data.train), "val_slices": len(self.data.val), "out": str(self.out),
                "parameters": count_parameters(self.model), "data_hash": self.data_hash,
                "learning_rate": self.config.learning_rate, "batch": self.config.batch}

    def _write_config(self) -> None:
        body = {"config": self.config.to_json(), "spec": self.spec.to_json(), "world_size": self.ctx.world_size,
                "data_hash": self.data_hash, "train_slices": [r.sample_id for r in self.data.train],
                "val_slices": [r.sample_id for r in self.data.val]}
        atomic_write_json(self.out / CONFIG_NAME, body)
