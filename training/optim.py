"""Optimiser and learning-rate schedule: AdamW, linear warm-up, cosine decay.

The schedule multiplies the base learning rate by

- ``start + (1 − start) · s / W`` during warm-up (steps ``s < W``, ``start`` = 0.1),
- ``m + (1 − m) · ½ (1 + cos(π · (s − W) / (T − W)))`` afterwards, reaching
  ``m`` (``min_lr_ratio``) at the last step ``T − 1`` ... ``T``.

Weight decay applies to weights of convolutions and linear layers only,
not to biases or normalisation parameters (the usual AdamW practice).
"""
from __future__ import annotations

import math

import torch
from torch import nn

WARMUP_START = 0.1
MAX_WARMUP_STEPS = 500


class WarmupCosine:
    """Learning-rate factor per step (a callable object, so its settings are saved with the scheduler)."""

    def __init__(self, total_steps: int, warmup_steps: int, min_ratio: float, start: float = WARMUP_START) -> None:
        self.total_steps = max(1, int(total_steps))
        self.warmup_steps = max(0, min(int(warmup_steps), self.total_steps - 1))
        self.min_ratio = float(min_ratio)
        self.start = float(start)

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.start + (1.0 - self.start) * step / self.warmup_steps
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_steps_for(total_steps: int, fraction: float) -> int:
    """Warm-up length: ``fraction`` of the run, at least 1 step (when > 0), at most 500."""
    if fraction <= 0:
        return 0
    return min(MAX_WARMUP_STEPS, max(1, round(total_steps * fraction)))


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two AdamW groups: weights with decay; biases and norm parameters without."""
    decay, no_decay = [], []
    for module in model.modules():
        norm = isinstance(module, (nn.GroupNorm, nn.BatchNorm2d, nn.LayerNorm))
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            (no_decay if norm or name == "bias" or param.ndim <= 1 else decay).append(param)
    return [{"params": decay, "weight_decay": float(weight_decay)}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW (betas 0.9, 0.999) over the trainable parameters of ``model``."""
    return torch.optim.AdamW(parameter_groups(model, weight_decay), lr=float(lr), betas=(0.9, 0.999))


def make_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, warmup_fraction: float,
                   min_ratio: float) -> torch.optim.lr_scheduler.LambdaLR:
    """Warm-up + cosine schedule, stepped once per optimiser step."""
    rule = WarmupCosine(total_steps, warmup_steps_for(total_steps, warmup_fraction), min_ratio)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, rule)
