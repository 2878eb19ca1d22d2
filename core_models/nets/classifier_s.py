"""COVID-CT-Mask-Net classification: module S on a fixed batch of ranked RoIs.

S reads the R best regional predictions of a Mask R-CNN (see
:mod:`core_models.nets.roi_ranking`), flattens them (5R values) and maps
them through Linear(5R, s) + ReLU → Linear(s, s) + ReLU → Linear(s, 3) to
the image class: 0 Control, 1 common pneumonia, 2 COVID-19. It is trained
with BCE-with-logits on one-hot targets; the prediction is the argmax.

:class:`MaskRCNNClassifier` wraps a detector and S. Its detector always runs
its inference path (RPN in test mode, no detection targets), in training
mode too, so gradients reach S and, through the RoI scores and regression
values, the detector's weights. :func:`freeze_for_classifier` reproduces the
seed's recipe: only S and normalisation affine weights train, BatchNorm
running statistics stay frozen.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from core_models.errors import InputError, ModelError
from core_models.nets.maskrcnn import LesionMaskRCNN, captured_outputs, check_images
from core_models.nets.roi_ranking import ROW_WIDTH, VARIANTS, rank_rois

CLASS_NAMES: tuple[str, str, str] = ("Control", "common pneumonia", "COVID-19")


class ClassificationModuleS(nn.Module):
    """The seed's module S: three linear layers on the flattened (R, 5) RoI batch.

    Parameters
    ----------
    roi_batch : int
        R, the number of ranked RoIs per image (128 or 256 in the seed).
    s_features : int
        s, the hidden width (512 or 1024 in the seed).
    num_classes : int
        Image classes (3).
    """

    def __init__(self, roi_batch: int, s_features: int, num_classes: int = len(CLASS_NAMES)):
        super().__init__()
        self.hidden1 = nn.Linear(ROW_WIDTH * roi_batch, s_features)
        self.hidden2 = nn.Linear(s_features, s_features)
        self.out = nn.Linear(s_features, num_classes)

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        """Class logits ``(N, 3)`` for ranked rows ``(N, R, 5)``."""
        x = F.relu(self.hidden1(rows.flatten(1)))
        x = F.relu(self.hidden2(x))
        return self.out(x)


@contextlib.contextmanager
def _test_mode(module: nn.Module) -> Iterator[None]:
    """Run ``module`` (the RPN: no normalisation layers) in test mode for a while."""
    previous = module.training
    module.train(False)
    try:
        yield
    finally:
        module.train(previous)


def _image_classes(targets: Any, count: int, device: torch.device) -> torch.Tensor:
    if isinstance(targets, torch.Tensor):
        classes = targets
    elif isinstance(targets, (list, tuple)) and all(isinstance(t, dict) and "image_class" in t for t in targets):
        classes = torch.as_tensor([int(t["image_class"]) for t in targets])
    else:
        raise InputError("classifier training needs one target dict with 'image_class' per image")
    classes = classes.reshape(-1).long().to(device)
    if classes.numel() != count:
        raise InputError(f"got {classes.numel()} image classes for {count} images")
    if classes.numel() and (int(classes.min()) < 0 or int(classes.max()) >= len(CLASS_NAMES)):
        raise InputError("image classes must be 0 (Control), 1 (common pneumonia) or 2 (COVID-19)")
    return classes


class MaskRCNNClassifier(nn.Module):
    """A detector plus module S (COVID-CT-Mask-Net).

    Parameters
    ----------
    detector : LesionMaskRCNN
    roi_batch : int
        R ranked RoIs per image.
    s_features : int
        Hidden width s of S.
    variant : {"seed", "decoded"}
        Row content: raw box-regression values (seed) or decoded boxes
        normalised by the image size (see :mod:`core_models.nets.roi_ranking`).
    nms_thresh : float, optional
        IoU threshold of the ranking's NMS (default: the detector's RoI NMS, 0.5).

    Training mode with targets (dicts with ``image_class`` or an (N,) tensor)
    returns ``{"loss_image_class": ...}``. Eval returns one dict per image:
    ``class_logits`` (3,), ``class_probs`` (3,) softmax of the logits,
    ``class`` (argmax), ``ranked_rois`` (R, 5), plus the detector's
    detections (boxes, labels, scores, masks, mask_logits, ...) from the same
    backbone pass unless ``detections=False``.
    """

    def __init__(self, detector: LesionMaskRCNN, roi_batch: int = 128, s_features: int = 512,
                 variant: str = "seed", nms_thresh: float | None = None):
        super().__init__()
        if not isinstance(detector, LesionMaskRCNN):
            raise ModelError("the classifier needs a Mask R-CNN detector from core_models.nets")
        if int(roi_batch) < 1 or int(s_features) < 1:
            raise ModelError(f"R and s must be positive, got R={roi_batch}, s={s_features}")
        if variant not in VARIANTS:
            raise ModelError(f"classifier variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
        self.detector = detector
        self.s_module = ClassificationModuleS(int(roi_batch), int(s_features))
        self.roi_batch = int(roi_batch)
        self.variant = variant
        self.nms_thresh = float(detector.roi_heads.nms_thresh if nms_thresh is None else nms_thresh)
        self.freeze_norm_stats = False

    def train(self, mode: bool = True) -> MaskRCNNClassifier:
        """Set train/eval mode; BatchNorm stays in eval mode once frozen (see :func:`freeze_for_classifier`)."""
        super().train(mode)
        if self.freeze_norm_stats:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.train(False)
        return self

    def _features(self, images: Sequence[torch.Tensor]) -> tuple[Any, dict[str, torch.Tensor], list[torch.Tensor]]:
        image_list, _ = self.detector.transform(list(images))
        # the skip maps too: detect() below runs the semantic head, which needs them (semantic_skips)
        features, self.detector._skips = self.detector.backbone.features_and_skips(image_list.tensors)
        with _test_mode(self.detector.rpn):
            proposals, _ = self.detector.rpn(image_list, features)
        return image_list, features, proposals

    def _rank(self, image_list: Any, features: dict[str, torch.Tensor], proposals: list[torch.Tensor]) -> torch.Tensor:
        heads = self.detector.roi_heads
        pooled = heads.box_roi_pool(features, proposals, image_list.image_sizes)
        return self._rows(heads.box_predictor(heads.box_head(pooled)), proposals, image_list)

    def _rows(self, predicted: tuple[torch.Tensor, torch.Tensor], proposals: list[torch.Tensor],
              image_list: Any) -> torch.Tensor:
        """S's ranked rows from the box predictor's (class logits, box regression) over ``proposals``."""
        class_logits, box_regression = predicted
        return rank_rois(class_logits, box_regression, proposals, image_list.image_sizes,
                         self.detector.roi_heads.box_coder, self.roi_batch, self.nms_thresh, self.variant)

    def _detect_and_rank(self, image_list: Any, features: dict[str, torch.Tensor], proposals: list[torch.Tensor],
                         images: Sequence[torch.Tensor]) -> tuple[list[dict[str, torch.Tensor]], torch.Tensor]:
        """Detections and ranked rows from one box-head pass (eval mode).

        The detector's RoI heads pool and classify the same proposals that
        :meth:`_rank` would, so their box predictor's output is captured
        and ranked instead of being computed a second time.
        """
        original_sizes = [(int(img.shape[-2]), int(img.shape[-1])) for img in images]
        with captured_outputs(self.detector.roi_heads.box_predictor) as store:
            results = self.detector.detect(image_list, features, proposals, original_sizes)
        return results, self._rows(store[0], proposals, image_list)

    def forward(self, images: list[torch.Tensor], targets: Any = None, detections: bool = True) -> Any:
        """Loss dict (training) or per-image class predictions (eval)."""
        check_images(images)
        try:
            return self._forward(images, targets, detections)
        finally:
            self.detector._skips = {}

    def _forward(self, images: list[torch.Tensor], targets: Any, detections: bool) -> Any:
        image_list, features, proposals = self._features(images)
        if self.training or not detections:
            rows = self._rank(image_list, features, proposals)
            results: list[dict[str, torch.Tensor]] = [{} for _ in images]
        else:
            results, rows = self._detect_and_rank(image_list, features, proposals, images)
        logits = self.s_module(rows)
        if self.training:
            classes = _image_classes(targets, len(images), logits.device)
            onehot = F.one_hot(classes, logits.shape[1]).to(logits.dtype)
            return {"loss_image_class": F.binary_cross_entropy_with_logits(logits, onehot)}
        for result, lg, rw in zip(results, logits, rows):
            result.update(class_logits=lg, class_probs=lg.softmax(-1), ranked_rois=rw)
            result["class"] = lg.argmax()
        return results


def freeze_for_classifier(model: MaskRCNNClassifier) -> MaskRCNNClassifier:
    """Train only S and normalisation affine weights; freeze BatchNorm running statistics.

    BatchNorm (and, where the backbone uses it, GroupNorm) weight and bias
    keep ``requires_grad``; every other detector parameter is frozen.
    BatchNorm layers stay in eval mode even after ``model.train()``, so
    their running mean and variance never change. Returns ``model``.
    """
    if not isinstance(model, MaskRCNNClassifier):
        raise ModelError("freeze_for_classifier needs a MaskRCNNClassifier")
    for param in model.parameters():
        param.requires_grad_(False)
    for param in model.s_module.parameters():
        param.requires_grad_(True)
    for module in model.detector.modules():
        if isinstance(module, (_BatchNorm, nn.GroupNorm)) and module.weight is not None:
            module.weight.requires_grad_(True)
            module.bias.requires_grad_(True)
    model.freeze_norm_stats = True
    model.train(model.training)
    return model
