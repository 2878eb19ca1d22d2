"""Training classification module S (Control / common pneumonia / COVID-19) behind ``lesionloop train-classifier``.

The recipe is the seed's (COVID-CT-Mask-Net): the segmentation model given
as ``init`` is frozen except the normalisation layers' affine weights, its
BatchNorm running statistics stay frozen, S (three linear layers on the R
best-ranked RoIs) learns from scratch with BCE on one-hot classes, one image
per step by default. ``s_only`` freezes the whole detector instead, so the
model's segmentation is bit-identical to ``init``'s; S's input rows then
depend on the image alone and are computed once per slice and cached (the
run costs one forward pass per slice plus S's own steps).

A run folder ``out`` receives what ``lesionloop train`` writes (see
:mod:`training.loop`): ``best/`` (best validation ``best_metric``; only
with validation data), ``last/``, ``state.pt`` (exact ``resume``),
``curves.jsonl`` and ``config.json``. The model folders' specs declare the
classifier (R, s, variant, ``trained_on``: ``phantom`` when every training
slice is synthetic, which the viewer and ``infer`` turn into a plain note)
and hold the validation figures under ``metrics["classifier"]``: accuracy,
per-class sensitivity, the confusion matrix (rows true class). With
``s_only`` the init model's segmentation figures are kept beside them.
"""
from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from core_models.atomic import atomic_write_json
from core_models.devices import describe_device, select_device
from core_models.errors import InputError
from core_models.model_spec import ModelMetadata, ModelSpec
from core_models.nets import count_parameters
from training.callbacks import CallbackList, Timer
from training.classifier_setup import (ClassifierConfig, detector_frozen, evaluate_classifier, prepare_classifier,
                                       ranked_rows)
from training.data.classification import ClassImageLoader, class_data_hash, collect_class_data, trained_on
from training.data.records import SliceReader, SliceRecord
from training.data.torch_dataset import ResumableSampler, batches_per_epoch
from training.loop import seed_everything
from training.loop_common import RunLoop, TrainResult
from training.optim import make_optimizer, make_scheduler
from training.prepare import prime_roi_pool_scales
from training.run_state import CURVES_NAME, STATE_NAME, CurveLog, load_state, save_state

CONFIG_NAME = "config.json"


def train_classifier(config: ClassifierConfig, callbacks: Iterable[Any] = (), *, resume: bool = False,
                     command: str | None = None) -> TrainResult:
    """Train (or, with ``resume``, continue) the classifier run described by ``config``.

    Parameters
    ----------
    config : the settings; ``config.out`` is the run folder.
    callbacks : objects with the hooks of :mod:`training.callbacks`.
    resume : continue from ``out/state.pt`` exactly where it stopped.
    command : recorded in the models' metadata (default: this process's command line).
    """
    return ClassifierTrainer(config, CallbackList(callbacks), command).run(resume)


class ClassifierTrainer(RunLoop):
    """One classifier run (see :func:`train_classifier`)."""

    def __init__(self, config: ClassifierConfig, callbacks: CallbackList, command: str | None) -> None:
        self.config, self.callbacks = config, callbacks
        self.command = command if command is not None else " ".join(sys.argv)
        self.out = Path(config.out)
        seed_everything(config.seed)
        self.device = select_device(config.device)
        model, self.spec, self.parent_metrics = prepare_classifier(config)
        self.parent = self.spec.metadata.version or None
        self.version = config.version or self.out.name
        self.model = model.to(self.device)
        prime_roi_pool_scales(self.model.detector)
        self.loader = ClassImageLoader(self.spec.preprocessing, SliceReader(self.spec.preprocessing))
        self._load_data()
        self.cache: dict[str, torch.Tensor] | None = {} if detector_frozen(self.model) else None
        self.sampler = ResumableSampler(self.train, 1, 0, config.seed)
        self.steps_per_epoch = batches_per_epoch(len(self.train), config.batch)
        self.total_steps = self.steps_per_epoch * config.epochs
        self.optimizer = make_optimizer(self.model, config.lr, config.weight_decay)
        self.scheduler = make_scheduler(self.optimizer, self.total_steps, config.warmup_fraction, config.min_lr_ratio)
        self._reset_counters()
        self.curves = CurveLog(self.out / CURVES_NAME)
        self.timer = Timer()

    def _load_data(self) -> None:
        cfg, reader = self.config, self.loader.reader
        data = collect_class_data(cfg.data, reader, lesion_slices_only=cfg.lesion_slices_only)
        val = collect_class_data(cfg.val, reader, lesion_slices_only=cfg.lesion_slices_only) if cfg.val else None
        self.train, self.val = data.records, (val.records if val else [])
        overlap = {(r.image_path, r.z) for r in self.train} & {(r.image_path, r.z) for r in self.val}
        if overlap:
            raise InputError(f"{len(overlap)} slice(s) are in both training and validation data")
        self.class_counts, self.dropped = data.class_counts(), data.dropped + (val.dropped if val else 0)
        self.data_hash = class_data_hash(self.train)
        self.val_hash = class_data_hash(self.val) if self.val else None
        self.spec.classifier["trained_on"] = trained_on(self.train)

    # ------------------------------------------------------------------ run
    def run(self, resume: bool = False) -> TrainResult:
        """Train to the last epoch or until a stop; returns the result."""
        if resume:
            self._resume()
        self._write_config()
        self.callbacks.on_start(self._info())
        result = self._run_epochs()
        self.callbacks.on_end(result)
        return result

    def _train_epoch(self, epoch: int) -> bool:
        """Steps of one epoch; True when a stop was requested."""
        batch = self.config.batch
        self.sampler.set_epoch(epoch, skip=self.step_in_epoch * batch)
        order = list(self.sampler)
        self.model.train()
        self.timer.reset()
        for start in range(0, len(order), batch):
            if self.callbacks.should_stop():
                return True
            records = [self.train[i] for i in order[start:start + batch]]
            losses = self._step(records)
            self.step_in_epoch += 1
            self.global_step += 1
            self._after_step(epoch, losses, len(records))
        return False

    def _rows(self, record: SliceRecord) -> torch.Tensor:
        """Cached ``(R, 5)`` rows of a slice (only while the detector is frozen)."""
        assert self.cache is not None
        if record.sample_id not in self.cache:
            self.cache[record.sample_id] = ranked_rows(self.model, self.loader.image(record).to(self.device))
        return self.cache[record.sample_id]

    def _loss(self, records: list[SliceRecord]) -> torch.Tensor:
        classes = torch.as_tensor([int(r.class_id) for r in records], device=self.device)
        if self.cache is None:
            images = [self.loader.image(r).to(self.device) for r in records]
            return self.model(images, classes)["loss_image_class"]
        logits = self.model.s_module(torch.stack([self._rows(r) for r in records]))
        # the loss MaskRCNNClassifier computes in training mode: BCE on one-hot classes
        return F.binary_cross_entropy_with_logits(logits, F.one_hot(classes, logits.shape[1]).to(logits.dtype))

    def _step(self, records: list[SliceRecord]) -> dict[str, float]:
        loss = self._loss(records)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if bool(torch.isfinite(loss.detach())):
            params = [p for p in self.model.parameters() if p.requires_grad]
            torch.nn.utils.clip_grad_norm_(params, self.config.grad_clip)
            self.optimizer.step()
            self.nonfinite = 0
        else:
            self._count_nonfinite(self.config.lr)
        lr = float(self.optimizer.param_groups[0]["lr"])
        self.scheduler.step()
        value = float(loss.detach())
        return {"loss_image_class": value, "loss": value, "lr": lr}

    def _after_step(self, epoch: int, losses: dict[str, float], n_images: int) -> None:
        self._add_loss(losses)
        losses["images_per_s"] = self.timer.tick(n_images)
        self._log_step(epoch, losses)

    # ------------------------------------------------------------ epochs
    def _end_epoch(self, epoch: int) -> None:
        metrics = self._train_loss()
        if self.val:
            logits_of = (lambda r: self.model.s_module(self._rows(r)[None])[0]) if self.cache is not None else None
            with torch.no_grad():
                report = evaluate_classifier(self.model, self.val, self.loader, device=self.device,
                                             logits_of=logits_of)
            report.pop("predictions")
            metrics.update(report)
        self.model.train()
        self._close_epoch(epoch, metrics)
        self._save_all(validated=bool(self.val))
        self._log_epoch(epoch, metrics)

    def _save_all(self, validated: bool) -> None:
        """``last/``, ``best/`` when this epoch is the best so far, and ``state.pt``."""
        self._save_models(self.version, validated)
        save_state(self.out / STATE_NAME, self._state())

    def _spec_for(self, version: str) -> ModelSpec:
        classifier = {**{k: v for k, v in self.metrics.items() if isinstance(v, (int, float, list))},
                      "epoch": self.epoch, "step": self.global_step, "val_slices": len(self.val),
                      "validation": self.val_hash, "train_slices": len(self.train),
                      "train_class_counts": self.class_counts}
        kept = self.parent_metrics if self.config.s_only else {}
        metrics = {**{k: v for k, v in kept.items() if k != "classifier"}, "classifier": classifier}
        what = ("S only: the detector's weights are the parent's, bit for bit" if self.config.s_only else
                "S and the norm layers' affine weights (segmentation outputs differ slightly from the parent's)")
        notes = (f"classifier S trained on {self.spec.classifier['trained_on']} ({len(self.train)} slices, "
                 f"{self.epoch} epoch(s)); trained: {what}")
        metadata = ModelMetadata(version=version, parent=self.parent, data_hash=self.data_hash,
                                 metrics=metrics, command=self.command, notes=notes)
        return replace(self.spec, metadata=metadata)

    # ------------------------------------------------------------ state
    def _state(self) -> dict[str, Any]:
        return {**self._counter_state(), "data_hash": self.data_hash, "batch": self.config.batch}

    def _resume(self) -> None:
        state = load_state(self.out / STATE_NAME)
        if int(state.get("batch", 0)) != self.config.batch:
            raise InputError(f"the run in {self.out} was trained with batch {state.get('batch')}; resume it with it")
        if state.get("data_hash") != self.data_hash:
            raise InputError(f"the training data changed since the run in {self.out} started; start a new run")
        self._restore_counters(state)
        self.curves.resume(self.global_step)

    # ------------------------------------------------------------ reports
    def _info(self) -> dict[str, Any]:
        return {"epochs": self.config.epochs, "steps_per_epoch": self.steps_per_epoch,
                "total_steps": self.total_steps, "start_epoch": self.epoch + 1, "start_step": self.global_step,
                "device": describe_device(self.device), "world_size": 1, "train_slices": len(self.train),
                "val_slices": len(self.val), "out": str(self.out), "data_hash": self.data_hash,
                "parameters": count_parameters(self.model),
                "trainable_parameters": count_parameters(self.model, trainable_only=True),
                "train_class_counts": self.class_counts, "dropped_lesion_free": self.dropped,
                "trained_on": self.spec.classifier["trained_on"], "s_only": self.config.s_only,
                "learning_rate": self.config.lr, "batch": self.config.batch}

    def _write_config(self) -> None:
        body = {"config": self.config.to_json(), "spec": self.spec.to_json(), "data_hash": self.data_hash,
                "train_class_counts": self.class_counts, "train_slices": [r.sample_id for r in self.train],
                "val_slices": [r.sample_id for r in self.val]}
        atomic_write_json(self.out / CONFIG_NAME, body)
