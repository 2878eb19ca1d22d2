"""Mask R-CNN of the COVID-CT-Mask-Net family on torchvision's detection package.

Two registered builders:

- ``maskrcnn_light``: truncated ResNet18/34, one FPN level, the seed's light
  box and mask heads (published 6.12M / 11.45M parameters at truncation 1);
- ``maskrcnn_resnet50_fpn``: ResNet50 with a four-level FPN, the seed's
  128-wide box head and torchvision's 4×256 mask head (published 31.78M).

Input: a list of ``(3, H, W)`` float tensors in [0, 1] (see
:func:`core_models.model_spec.preprocess_slice`); the model's transform
resizes (``min_size``/``max_size``) and applies ImageNet mean/std itself.

Training (``model.train()``) needs one target dict per image with
``boxes`` (N, 4) float pixels x0, y0, x1, y1, ``labels`` (N,) int64 model
classes, ``masks`` (N, H, W) uint8, and ``semantic`` (H, W) int64 label map
when the semantic head is on; it returns a dict of losses.

Eval returns one dict per image, torchvision style (``boxes`` in original
pixels, ``labels``, ``scores``, ``masks`` (N, 1, H, W) probabilities pasted
into the image unless ``paste_masks`` is False), plus ``mask_logits``
(N, 28, 28): the raw mask logits of each detection's class, not pasted,
and ``semantic_logits`` (3, H, W) when the semantic head is on.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn
from torchvision.models.detection import MaskRCNN

from core_models.errors import InputError, ModelError
from core_models.nets.backbones import LIGHT_SKIPS, TRUNCATIONS, ResNetFPN, light_resnet_fpn, resnet50_fpn
from core_models.nets.heads import (SEED_ANCHOR_RATIOS, SEED_ANCHOR_SIZES, anchor_generator,
                                    box_head_and_predictor, mask_head_and_predictor, roi_pools, rpn_head)
from core_models.nets.mask_types import check_mask_type, num_classes_for
from core_models.nets.registry import register_model
from core_models.nets.semantic import SemanticHead, logits_at_original_size, semantic_loss

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

#: the seed's transform and training/test hyperparameters (torchvision MaskRCNN keyword names)
DETECTOR_DEFAULTS: dict[str, Any] = {
    "min_size": 512, "max_size": 1024,
    "image_mean": IMAGENET_MEAN, "image_std": IMAGENET_STD,
    "rpn_batch_size_per_image": 256, "rpn_positive_fraction": 0.75, "rpn_nms_thresh": 0.75,
    "rpn_fg_iou_thresh": 0.7, "rpn_bg_iou_thresh": 0.3,
    "rpn_pre_nms_top_n_train": 2000, "rpn_post_nms_top_n_train": 2000,
    "rpn_pre_nms_top_n_test": 1000, "rpn_post_nms_top_n_test": 1000,
    "box_batch_size_per_image": 256, "box_positive_fraction": 0.75,
    "box_fg_iou_thresh": 0.75, "box_bg_iou_thresh": 0.5, "bbox_reg_weights": (10.0, 10.0, 5.0, 5.0),
    "box_nms_thresh": 0.5, "box_score_thresh": 0.05, "box_detections_per_img": 100,
}


def detector_options(options: dict[str, Any]) -> dict[str, Any]:
    """Seed defaults overridden by ``options``; :class:`ModelError` on unknown names."""
    unknown = sorted(set(options) - set(DETECTOR_DEFAULTS))
    if unknown:
        raise ModelError(f"unknown detector option(s) {', '.join(unknown)}")
    merged = {**DETECTOR_DEFAULTS, **options}
    for key in ("image_mean", "image_std", "bbox_reg_weights"):
        merged[key] = tuple(float(v) for v in merged[key])
    return merged


@contextlib.contextmanager
def captured_outputs(module: nn.Module) -> Iterator[list[Any]]:
    """Collect ``module``'s outputs while the context is open (a temporary forward hook)."""
    store: list[Any] = []
    handle = module.register_forward_hook(lambda _m, _i, out: store.append(out))
    try:
        yield store
    finally:
        handle.remove()


def check_images(images: Sequence[torch.Tensor]) -> None:
    if not isinstance(images, (list, tuple)) or not images:
        raise InputError("the model needs a non-empty list of (3, H, W) image tensors")
    for img in images:
        if not isinstance(img, torch.Tensor) or img.ndim != 3 or img.shape[0] != 3 or not img.is_floating_point():
            shape = tuple(img.shape) if isinstance(img, torch.Tensor) else type(img).__name__
            raise InputError(f"each image must be a (3, H, W) float tensor, got {shape}")


def _check_targets(targets: Sequence[dict[str, torch.Tensor]] | None, count: int, semantic: bool) -> None:
    if targets is None or len(targets) != count:
        raise InputError("training needs one target dict (boxes, labels, masks) per image")
    for t in targets:
        missing = [k for k in ("boxes", "labels", "masks") + (("semantic",) if semantic else ()) if k not in t]
        if missing:
            raise InputError(f"training target lacks {', '.join(missing)}")
        boxes = t["boxes"]
        if boxes.ndim != 2 or boxes.shape[-1] != 4 or not boxes.is_floating_point():
            raise InputError(f"target boxes must be a float (N, 4) tensor, got {tuple(boxes.shape)}")
        if boxes.numel() and bool(((boxes[:, 2:] - boxes[:, :2]) <= 0).any()):
            raise InputError("target boxes must have positive width and height (x0 < x1, y0 < y1)")
        if t["labels"].dtype != torch.int64:
            raise InputError(f"target labels must be int64, got {t['labels'].dtype}")


class LesionMaskRCNN(MaskRCNN):
    """torchvision :class:`MaskRCNN` that also returns raw per-detection mask logits.

    Parameters
    ----------
    backbone : ResNetFPN
    mask_type : {"both", "ggo", "merge"}
    feature_stride : int
        Stride of the finest FPN map (for the semantic head).
    semantic_head : bool
        Add the dense head (see :mod:`core_models.nets.semantic`).
    paste_masks : bool
        Paste mask probabilities into full-size ``masks`` in eval mode
        (costly with many detections; ``mask_logits`` are always returned).
    **kwargs
        Heads and hyperparameters passed on to :class:`MaskRCNN`.
    """

    def __init__(self, backbone: ResNetFPN, *, mask_type: str, feature_stride: int,
                 semantic_head: bool = False, paste_masks: bool = True, **kwargs: Any):
        super().__init__(backbone, num_classes=None, **kwargs)
        self.mask_type = mask_type
        self.paste_masks = paste_masks
        skips = {name: (ch, LIGHT_SKIPS[name][2]) for name, ch in getattr(backbone, "skip_channels", {}).items()}
        self.semantic_head = (SemanticHead(backbone.out_channels, feature_stride, skips=skips)
                              if semantic_head else None)

    def forward(self, images: list[torch.Tensor],  # type: ignore[override]
                targets: list[dict[str, torch.Tensor]] | None = None) -> Any:
        """Loss dict in training mode, list of detection dicts in eval mode."""
        check_images(images)
        if self.training:
            _check_targets(targets, len(images), self.semantic_head is not None)
        original_sizes = [(int(img.shape[-2]), int(img.shape[-1])) for img in images]
        image_list, targets = self.transform(images, targets)
        features, self._skips = self.backbone.features_and_skips(image_list.tensors)
        try:
            proposals, rpn_losses = self.rpn(image_list, features, targets)
            if self.training:
                _, roi_losses = self.roi_heads(features, proposals, image_list.image_sizes, targets)
                losses = {**rpn_losses, **roi_losses}
                if self.semantic_head is not None:
                    logits = self._semantic(features, image_list.tensors.shape[-2:])
                    losses["loss_semantic"] = semantic_loss(
                        logits, [t["semantic"] for t in targets], image_list.image_sizes, original_sizes)
                return losses
            return self.detect(image_list, features, proposals, original_sizes)
        finally:
            self._skips = {}

    def _semantic(self, features: dict[str, torch.Tensor], size: Sequence[int]) -> torch.Tensor:
        finest = next(iter(features.values()))
        return self.semantic_head(finest, (int(size[0]), int(size[1])), getattr(self, "_skips", None))

    def detect(self, image_list: Any, features: dict[str, torch.Tensor], proposals: list[torch.Tensor],
                original_sizes: list[tuple[int, int]]) -> list[dict[str, torch.Tensor]]:
        """Eval-mode detections from computed features and RPN proposals (see the module docstring).

        The mask predictor's raw output is captured with a temporary hook, and
        each detection keeps the logits of its own class as ``mask_logits``.
        """
        with captured_outputs(self.roi_heads.mask_predictor) as store:
            detections, _ = self.roi_heads(features, proposals, image_list.image_sizes)
        counts = [len(d["labels"]) for d in detections]
        if store:
            all_logits = store[-1]
            rows = torch.arange(sum(counts), device=all_logits.device)
            chosen = all_logits[rows, torch.cat([d["labels"] for d in detections])]
            for det, logits in zip(detections, chosen.split(counts)):
                det["mask_logits"] = logits
        if not self.paste_masks:
            for det in detections:
                det.pop("masks", None)
        detections = self.transform.postprocess(detections, image_list.image_sizes, original_sizes)
        if self.semantic_head is not None:
            logits = self._semantic(features, image_list.tensors.shape[-2:])
            maps = logits_at_original_size(logits, image_list.image_sizes, original_sizes)
            for det, sem in zip(detections, maps):
                det["semantic_logits"] = sem
        return detections


def _assemble(backbone: ResNetFPN, feature_stride: int, *, mask_type: str, anchor_sizes: Sequence,
              anchor_ratios: Sequence, mask_layers: Sequence[int], mask_roi_size: int,
              semantic_head: bool, paste_masks: bool, options: dict[str, Any]) -> LesionMaskRCNN:
    num_classes = num_classes_for(check_mask_type(mask_type))
    names = [str(i) for i in range(backbone.num_levels)]
    generator = anchor_generator(anchor_sizes, anchor_ratios, backbone.num_levels)
    box_pool, mask_pool = roi_pools(names, int(mask_roi_size))
    box_head, box_predictor = box_head_and_predictor(backbone.out_channels, num_classes)
    mask_head, mask_predictor = mask_head_and_predictor(backbone.out_channels, num_classes, mask_layers)
    return LesionMaskRCNN(
        backbone, mask_type=mask_type, feature_stride=feature_stride, semantic_head=bool(semantic_head),
        paste_masks=bool(paste_masks), rpn_anchor_generator=generator,
        rpn_head=rpn_head(backbone.out_channels, generator), box_roi_pool=box_pool, box_head=box_head,
        box_predictor=box_predictor, mask_roi_pool=mask_pool, mask_head=mask_head,
        mask_predictor=mask_predictor, **detector_options(options))


@register_model("maskrcnn_light")
def maskrcnn_light(*, backbone: str = "resnet18", truncation: int = 1, mask_type: str = "both",
                   norm: str = "batch", anchor_sizes: Sequence = SEED_ANCHOR_SIZES,
                   anchor_ratios: Sequence = SEED_ANCHOR_RATIOS, mask_layers: Sequence[int] = (128,),
                   mask_roi_size: int = 14, semantic_head: bool = False, paste_masks: bool = True,
                   semantic_skips: bool = False, **options: Any) -> LesionMaskRCNN:
    """Lightweight Mask R-CNN: truncated ResNet18/34 + one FPN level + the seed's light heads.

    Parameters
    ----------
    backbone : {"resnet18", "resnet34"}
    truncation : {0, 1, 2}
        Last ResNet layer kept: layer4, layer3 (seed's best) or layer2.
    mask_type : {"both", "ggo", "merge"}
    norm : {"batch", "frozen_batch", "group"}
        Backbone normalisation (BatchNorm = seed).
    anchor_sizes, anchor_ratios : sequences of float
        Anchor sizes in resized-image pixels and height/width ratios.
    mask_layers : sequence of int
        Mask head conv widths (seed light head: one conv of 128).
    mask_roi_size : int
        Mask RoIAlign size; mask logits are twice this (seed 14 → 28×28).
    semantic_head, paste_masks : bool
        See :class:`LesionMaskRCNN`.
    semantic_skips : bool
        Feed ``layer1``/``layer2`` to the semantic head as U-Net-style skips
        (only with ``semantic_head``).
    **options
        Overrides of :data:`DETECTOR_DEFAULTS` (min_size, box_score_thresh, ...).
    """
    body = light_resnet_fpn(backbone, truncation, norm, skips=bool(semantic_skips and semantic_head))
    stride = {"layer2": 8, "layer3": 16, "layer4": 32}[TRUNCATIONS[truncation][0]]
    return _assemble(body, stride, mask_type=mask_type, anchor_sizes=anchor_sizes, anchor_ratios=anchor_ratios,
                     mask_layers=mask_layers, mask_roi_size=mask_roi_size, semantic_head=semantic_head,
                     paste_masks=paste_masks, options=options)


@register_model("maskrcnn_resnet50_fpn")
def maskrcnn_resnet50_fpn(*, mask_type: str = "both", norm: str = "batch",
                          anchor_sizes: Sequence = SEED_ANCHOR_SIZES, anchor_ratios: Sequence = SEED_ANCHOR_RATIOS,
                          mask_layers: Sequence[int] = (256, 256, 256, 256), mask_roi_size: int = 14,
                          semantic_head: bool = False, paste_masks: bool = True,
                          **options: Any) -> LesionMaskRCNN:
    """Full Mask R-CNN: ResNet50 + four-level FPN, 128-wide box head, 4×256 mask head.

    Anchor sizes and ratios given as flat sequences are used on every FPN
    level (the seed's anchors on all four); give one sequence per level to
    spread them. Other parameters as :func:`maskrcnn_light`.
    """
    return _assemble(resnet50_fpn(norm), 4, mask_type=mask_type, anchor_sizes=anchor_sizes,
                     anchor_ratios=anchor_ratios, mask_layers=mask_layers, mask_roi_size=mask_roi_size,
                     semantic_head=semantic_head, paste_masks=paste_masks, options=options)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (optionally only those that require grad)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
