"""Detector targets from label maps: components, boxes, mask types, negatives."""
from __future__ import annotations

import numpy as np
import torch

from tests.conftest import make_tiny_spec
from training.datasets import make_target, mapped_labels


def _labels() -> np.ndarray:
    labels = np.zeros((40, 50), np.uint8)
    labels[2:12, 3:13] = 1        # GGO, 100 px
    labels[20:23, 30:33] = 1      # GGO, 9 px
    labels[25:35, 10:20] = 2      # consolidation, 100 px, touching nothing
    labels[12:20, 3:8] = 2        # consolidation touching the first GGO square
    return labels


def test_components_become_boxes_classes_and_masks() -> None:
    labels = _labels()
    target = make_target(labels, "both", min_area=1)
    assert target["labels"].tolist() == [1, 1, 2, 2]
    boxes = target["boxes"].tolist()
    assert boxes[0] == [3, 2, 13, 12] and boxes[1] == [30, 20, 33, 23]
    assert target["boxes"].dtype == torch.float32 and target["labels"].dtype == torch.int64
    masks = target["masks"].numpy().astype(bool)
    assert masks.shape == (4, 40, 50) and target["masks"].dtype == torch.uint8
    for mask, cls in zip(masks, target["labels"].tolist()):
        assert (labels[mask] == cls).all()           # each mask lies on its class
    assert np.array_equal(masks[target["labels"].numpy() == 1].any(0), labels == 1)


def test_min_area_drops_small_components() -> None:
    target = make_target(_labels(), "both", min_area=10)
    assert target["labels"].tolist() == [1, 2, 2]
    assert [b[2] - b[0] for b in target["boxes"].tolist()] == [10, 5, 10]


def test_mask_types_map_classes_and_semantic_targets() -> None:
    labels = _labels()
    ggo = make_target(labels, "ggo", semantic=True)
    assert ggo["labels"].tolist() == [1, 1]
    assert set(ggo["semantic"].unique().tolist()) == {0, 1}
    merged = make_target(labels, "merge", semantic=True)
    # the first GGO square and the consolidation below it touch: one lesion
    assert merged["labels"].tolist() == [1, 1, 1]
    assert torch.equal(merged["semantic"], torch.from_numpy((labels > 0).astype(np.int64)))
    both = make_target(labels, "both", semantic=True)
    assert torch.equal(both["semantic"], torch.from_numpy(labels.astype(np.int64)))
    assert np.array_equal(mapped_labels(labels, "ggo"), np.where(labels == 1, 1, 0))


def test_negative_slices_give_empty_targets_the_detector_accepts() -> None:
    target = make_target(np.zeros((64, 64), np.uint8), "both", semantic=True)
    assert target["boxes"].shape == (0, 4) and target["labels"].shape == (0,)
    assert target["masks"].shape == (0, 64, 64)
    torch.manual_seed(0)
    model = make_tiny_spec(semantic=True).build().train()
    positive = make_target(_labels()[:40, :40].repeat(2, 0).repeat(2, 1)[:64, :64], "both", semantic=True)
    losses = model([torch.rand(3, 64, 64), torch.rand(3, 64, 64)], [target, positive])
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
