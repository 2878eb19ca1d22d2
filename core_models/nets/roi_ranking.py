"""The fixed batch of ranked RoIs that feeds classification module S.

For each image: every (proposal, lesion class) pair is a candidate with the
class's softmax score; candidates with empty decoded boxes are dropped,
class-wise NMS runs, and the R best are kept in decreasing score order. The
score threshold is effectively negative (every candidate may be kept).
When fewer than R survive, rows are repeated in order until there are R
(the seed repeats them at random positions; spreading them evenly is the
deterministic equivalent and keeps the ranking). Each row is

- variant ``"seed"``: [score, dx, dy, dw, dh], the raw box-regression
  outputs of that class (what the seed feeds S);
- variant ``"decoded"``: [score, x0/W, y0/H, x1/W, y1/H], the decoded box
  clipped to the resized image and normalised by its width W and height H,
  so rows do not depend on the proposal a box came from.
"""
from __future__ import annotations

import torch
from torchvision.models.detection._utils import BoxCoder
from torchvision.ops import batched_nms, clip_boxes_to_image

VARIANTS = ("seed", "decoded")
ROW_WIDTH = 5


def pad_by_repetition(rows: torch.Tensor, count: int) -> torch.Tensor:
    """Exactly ``count`` rows: truncate, or repeat each row in order; zeros when ``rows`` is empty."""
    n = rows.shape[0]
    if n >= count:
        return rows[:count]
    if n == 0:
        return rows.new_zeros((count, rows.shape[1]))
    index = torch.div(torch.arange(count, device=rows.device) * n, count, rounding_mode="floor")
    return rows[index]


def _rank_one(logits: torch.Tensor, regression: torch.Tensor, proposals: torch.Tensor,
              image_size: tuple[int, int], box_coder: BoxCoder, roi_batch: int, nms_thresh: float,
              variant: str) -> torch.Tensor:
    count, num_classes = logits.shape
    scores = logits.softmax(-1)[:, 1:].reshape(-1)
    raw = regression.reshape(count, num_classes, 4)[:, 1:].reshape(-1, 4)
    boxes = box_coder.decode(regression, [proposals]).reshape(count, num_classes, 4)[:, 1:]
    boxes = clip_boxes_to_image(boxes, image_size).reshape(-1, 4)
    labels = torch.arange(1, num_classes, device=logits.device).repeat(count)
    valid = torch.where((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1]))[0]
    keep = batched_nms(boxes[valid].detach(), scores[valid].detach(), labels[valid], nms_thresh)
    keep = valid[keep[:roi_batch]]
    if variant == "seed":
        values = raw
    else:
        h, w = image_size
        values = boxes / boxes.new_tensor([w, h, w, h])
    rows = torch.cat([scores[:, None], values], dim=1)[keep]
    return pad_by_repetition(rows, roi_batch)


def rank_rois(class_logits: torch.Tensor, box_regression: torch.Tensor, proposals: list[torch.Tensor],
              image_sizes: list[tuple[int, int]], box_coder: BoxCoder, roi_batch: int,
              nms_thresh: float, variant: str = "seed") -> torch.Tensor:
    """Ranked RoI rows for a batch, shape ``(N, roi_batch, 5)``.

    Parameters
    ----------
    class_logits : (sum P_i, C) box-head class logits over all images' proposals.
    box_regression : (sum P_i, 4·C) box-head regression outputs.
    proposals : per-image (P_i, 4) proposals in resized-image pixels.
    image_sizes : resized (h, w) per image.
    box_coder : the RoI heads' coder (weights 10, 10, 5, 5).
    roi_batch : R, rows per image (128 or 256 in the seed).
    nms_thresh : IoU threshold of the class-wise NMS.
    variant : "seed" or "decoded" (see module docstring).
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    counts = [len(p) for p in proposals]
    parts = zip(class_logits.split(counts), box_regression.split(counts), proposals, image_sizes)
    return torch.stack([_rank_one(lg, rg, pr, tuple(sz), box_coder, roi_batch, nms_thresh, variant)
                        for lg, rg, pr, sz in parts])
