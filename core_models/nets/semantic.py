"""Optional dense (semantic) head on the finest FPN map, Panoptic-FPN style.

Mask R-CNN's instance framing suits diffuse GGO poorly (one connected
component can span a lung), so a small dense branch predicts a label map
directly: logits for background / GGO / consolidation, channel index = our
label value. It is trained with cross-entropy + soft Dice against the
``"semantic"`` target (an ``(H, W)`` int64 label map at the original image
size) and returns ``"semantic_logits"`` ``(3, H, W)`` at the original image
size in eval mode. The detector's per-RoI score maps are unaffected.

The head always uses GroupNorm, whatever the backbone's norm, because it
is trained from scratch at batch sizes of 1-2.
"""
from __future__ import annotations

import math

import numpy as np

import torch
import torch.nn.functional as F
from torch import nn

from core_models.errors import InputError
from core_models.nets.backbones import group_norm

SEMANTIC_CLASSES = 3
_EPS = 1.0


def _conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        group_norm(out_channels, 16),
        nn.ReLU(inplace=True),
    )


class SemanticHead(nn.Module):
    """3×3 conv blocks (GroupNorm + ReLU) with ×2 upsampling down to stride 4, then 1×1 logits.

    With skip maps (finer ResNet layers, U-Net style), each upsampling step
    at a skip's stride concatenates a 1×1 projection of that skip before its
    conv block, so boundaries come from stride-4/8 detail instead of being
    interpolated from the coarse FPN map.

    Parameters
    ----------
    in_channels : int
        Channels of the FPN map (256).
    feature_stride : int
        Stride of that map relative to the resized input (4 to 32).
    channels : int
        Width of the head.
    num_classes : int
        Output classes (3: background, GGO, consolidation).
    skips : dict of name -> (channels, stride)
        Skip maps the head receives in :meth:`forward` (empty: none).
    """

    def __init__(self, in_channels: int, feature_stride: int, channels: int = 128,
                 num_classes: int = SEMANTIC_CLASSES, skips: dict[str, tuple[int, int]] | None = None):
        super().__init__()
        upsamples = max(0, int(round(math.log2(feature_stride))) - 2)
        self.stem = _conv_block(in_channels, channels)
        # the stride reached after each upsampling step, and the skip (if any) fused there
        self.step_strides = [feature_stride // 2 ** (i + 1) for i in range(upsamples)]
        by_stride = {stride: name for name, (_, stride) in (skips or {}).items()}
        self.skip_names = [by_stride.get(stride, "") for stride in self.step_strides]
        skip_width = channels // 2
        self.skip_proj = nn.ModuleDict({
            name: nn.Sequential(nn.Conv2d(ch, skip_width, 1, bias=False), group_norm(skip_width, 16),
                                nn.ReLU(inplace=True))
            for name, (ch, stride) in (skips or {}).items() if stride in self.step_strides})
        self.up_blocks = nn.ModuleList(
            _conv_block(channels + (skip_width if name in self.skip_proj else 0), channels) for name in self.skip_names)
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, feature: torch.Tensor, size: tuple[int, int],
                skips: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Logits ``(N, classes, *size)`` for the padded input batch of spatial ``size``."""
        x = self.stem(feature)
        for name, block in zip(self.skip_names, self.up_blocks):
            if name in self.skip_proj:
                if not skips or name not in skips:
                    raise InputError(f"the semantic head needs skip map {name!r}")
                skip = skips[name]
                x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
                x = torch.cat([x, self.skip_proj[name](skip)], dim=1)
            else:
                x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            x = block(x)
        logits = self.classifier(x)
        return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


def logits_at_original_size(logits: torch.Tensor, image_sizes: list[tuple[int, int]],
                            original_sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
    """Crop each image's logits to its resized extent, then resize to its original size.

    Parameters
    ----------
    logits : (N, C, H, W) tensor over the padded batch of resized images.
    image_sizes : resized (h, w) of each image (before padding).
    original_sizes : (h, w) of each image as given to the model.
    """
    out = []
    for i, ((h, w), original) in enumerate(zip(image_sizes, original_sizes)):
        crop = logits[i : i + 1, :, :h, :w]
        out.append(F.interpolate(crop, size=tuple(int(s) for s in original), mode="bilinear", align_corners=False)[0])
    return out


def label_map(logits: torch.Tensor) -> np.ndarray:
    """Per-pixel argmax of ``(C, H, W)`` logits as a uint8 ``(H, W)`` label map.

    Equal to ``logits.argmax(0)`` (ties go to the lower label) but about 15×
    faster on the CPU: torch's reduction over a short leading axis is slow,
    so the classes are compared pairwise instead.
    """
    values = logits.detach().float().cpu().numpy()
    if values.ndim != 3 or values.shape[0] < 1 or values.shape[0] > 255:
        raise InputError(f"logits must be (C, H, W) with 1..255 classes, got {tuple(values.shape)}")
    labels = np.zeros(values.shape[1:], np.uint8)
    best = values[0]
    for c in range(1, values.shape[0]):
        higher = values[c] > best
        labels[higher] = c
        best = np.where(higher, values[c], best)
    return labels


def _check_target(target: torch.Tensor, original: tuple[int, int], num_classes: int) -> torch.Tensor:
    if tuple(target.shape) != tuple(int(s) for s in original):
        raise InputError(f"semantic target has shape {tuple(target.shape)}, image is {tuple(original)}")
    target = target.long()
    if target.numel() and (int(target.min()) < 0 or int(target.max()) >= num_classes):
        raise InputError(f"semantic target values must be 0..{num_classes - 1} (background, GGO, consolidation)")
    return target


def semantic_loss(logits: torch.Tensor, targets: list[torch.Tensor], image_sizes: list[tuple[int, int]],
                  original_sizes: list[tuple[int, int]]) -> torch.Tensor:
    """Cross-entropy + soft Dice (mean over classes, pooled over the batch).

    Logits are compared with each target at the target's (original) size,
    so label maps are never resampled.
    """
    per_image = logits_at_original_size(logits, image_sizes, original_sizes)
    num_classes = logits.shape[1]
    ce_sum = logits.new_zeros(())
    pixels = 0
    inter = logits.new_zeros(num_classes)
    total = logits.new_zeros(num_classes)
    for img_logits, target, original in zip(per_image, targets, original_sizes):
        target = _check_target(target.to(logits.device), original, num_classes)
        ce_sum = ce_sum + F.cross_entropy(img_logits[None], target[None], reduction="sum")
        pixels += target.numel()
        probs = img_logits.softmax(0)
        onehot = F.one_hot(target, num_classes).permute(2, 0, 1).to(probs.dtype)
        inter = inter + (probs * onehot).sum((1, 2))
        total = total + probs.sum((1, 2)) + onehot.sum((1, 2))
    dice = (2 * inter + _EPS) / (total + _EPS)
    return ce_sum / max(pixels, 1) + (1 - dice.mean())
