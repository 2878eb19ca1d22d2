"""RPN, box and mask heads of the COVID-CT-Mask-Net family, from torchvision parts.

The seed's heads are lighter than torchvision's defaults: the box head maps
the 256·7·7 RoI features to a 128-wide representation (torchvision: 1024),
and the lightweight models use one 128-channel mask convolution (torchvision:
four of 256). RoIAlign is 7×7 for boxes, 14×14 for masks, sampling ratio 2;
the mask predictor's transposed convolution doubles 14 to 28, so each
detection comes with a 28×28 mask logit map.
"""
from __future__ import annotations

from collections.abc import Sequence

from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.rpn import RPNHead
from torchvision.ops import MultiScaleRoIAlign

from core_models.errors import ModelError

#: the seed's anchors: sizes in pixels of the resized image, aspect ratios height/width
SEED_ANCHOR_SIZES: tuple[float, ...] = (2, 4, 8, 16, 32)
SEED_ANCHOR_RATIOS: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 1.5, 2.0)
BOX_REPRESENTATION = 128
BOX_ROI_SIZE = 7
MASK_ROI_SIZE = 14
SAMPLING_RATIO = 2


def _per_level(values: Sequence, num_levels: int, what: str) -> tuple[tuple[float, ...], ...]:
    """A flat sequence is used on every level; a nested one gives one tuple per level."""
    values = list(values)
    if not values:
        raise ModelError(f"{what} must not be empty")
    if all(isinstance(v, (list, tuple)) for v in values):
        if len(values) != num_levels:
            raise ModelError(f"{what} gives {len(values)} levels but the backbone has {num_levels}")
        return tuple(tuple(float(x) for x in level) for level in values)
    if any(isinstance(v, (list, tuple)) for v in values):
        raise ModelError(f"{what} must be all numbers or all per-level lists")
    return (tuple(float(v) for v in values),) * num_levels


def anchor_generator(sizes: Sequence, ratios: Sequence, num_levels: int) -> AnchorGenerator:
    """Anchors for ``num_levels`` feature maps.

    Parameters
    ----------
    sizes : sequence of float, or one sequence per level
        Anchor sizes in pixels of the resized image (seed: 2, 4, 8, 16, 32).
    ratios : sequence of float, or one sequence per level
        Aspect ratios height/width (seed: 0.1, 0.25, 0.5, 1, 1.5, 2).
    num_levels : int
        Number of FPN maps. Every level must have the same number of anchors
        per location, because one RPN head serves all levels.
    """
    level_sizes = _per_level(sizes, num_levels, "anchor_sizes")
    level_ratios = _per_level(ratios, num_levels, "anchor_ratios")
    if any(s <= 0 for level in level_sizes for s in level) or any(r <= 0 for level in level_ratios for r in level):
        raise ModelError("anchor sizes and ratios must be positive")
    counts = {len(s) * len(r) for s, r in zip(level_sizes, level_ratios)}
    if len(counts) != 1:
        raise ModelError("every FPN level needs the same number of anchors per location")
    return AnchorGenerator(sizes=level_sizes, aspect_ratios=level_ratios)


def rpn_head(in_channels: int, generator: AnchorGenerator) -> RPNHead:
    """torchvision's RPN head (one 3×3 conv, objectness and box deltas per anchor)."""
    return RPNHead(in_channels, generator.num_anchors_per_location()[0])


def roi_pools(featmap_names: list[str], mask_roi_size: int = MASK_ROI_SIZE) -> tuple[MultiScaleRoIAlign, MultiScaleRoIAlign]:
    """Box (7×7) and mask (``mask_roi_size``², seed 14) RoIAlign over the named maps, sampling ratio 2."""
    if mask_roi_size < 4:
        raise ModelError(f"mask RoI size must be at least 4, got {mask_roi_size}")
    box = MultiScaleRoIAlign(featmap_names=featmap_names, output_size=BOX_ROI_SIZE, sampling_ratio=SAMPLING_RATIO)
    mask = MultiScaleRoIAlign(featmap_names=featmap_names, output_size=mask_roi_size, sampling_ratio=SAMPLING_RATIO)
    return box, mask


def box_head_and_predictor(in_channels: int, num_classes: int,
                           representation: int = BOX_REPRESENTATION) -> tuple[TwoMLPHead, FastRCNNPredictor]:
    """Seed box head: TwoMLPHead(256·7·7 → 128 → 128) and FastRCNNPredictor(128, n_c)."""
    head = TwoMLPHead(in_channels * BOX_ROI_SIZE**2, representation)
    return head, FastRCNNPredictor(representation, num_classes)


def mask_head_and_predictor(in_channels: int, num_classes: int,
                            layers: Sequence[int]) -> tuple[MaskRCNNHeads, MaskRCNNPredictor]:
    """Mask head of ``len(layers)`` 3×3 convs and its predictor.

    ``layers=(128,)`` is the seed's lightweight head with predictor
    (128, 128, n_c); ``(256,)*4`` is torchvision's default with (256, 256, n_c).
    """
    layers = [int(n) for n in layers]
    if not layers or min(layers) < 1:
        raise ModelError("the mask head needs at least one convolution layer")
    head = MaskRCNNHeads(in_channels, layers, 1)
    return head, MaskRCNNPredictor(layers[-1], layers[-1], num_classes)
