"""The PyTorch side: a map-style dataset of augmented slices, its collate function and samplers.

Randomness is keyed, not streamed: the augmentation of item ``i`` in epoch
``e`` draws from ``numpy.random.default_rng([seed, e, i])``, so results do
not depend on worker processes, on the order items are read, or on where a
resumed run starts.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler, Sampler

from training.augment import Augmenter
from training.data.instances import make_target
from training.data.records import SliceReader, SliceRecord

Target = dict[str, torch.Tensor]


class SliceDataset(Dataset):
    """Augmented training slices as ``(image (3, H, W) float in [0, 1], target dict)``.

    Parameters
    ----------
    records : the slices.
    reader : loads a record (the model's preprocessing maps it to [0, 1]).
    augmenter : resize and random transforms.
    mask_type, min_area, semantic : how targets are made (:func:`make_target`).
    seed : base of the per-item random generators.
    """

    def __init__(self, records: Sequence[SliceRecord], reader: SliceReader, augmenter: Augmenter, *,
                 mask_type: str, min_area: int, semantic: bool, seed: int) -> None:
        self.records = list(records)
        self.reader, self.augmenter = reader, augmenter
        self.mask_type, self.min_area, self.semantic = mask_type, int(min_area), bool(semantic)
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the random stream of ``epoch`` (call before iterating)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, Target]:
        sample = self.reader.load(self.records[index])
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        image, labels = self.augmenter(sample.image, sample.labels, rng)
        target = make_target(labels, self.mask_type, self.min_area, self.semantic)
        tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))
        return tensor.unsqueeze(0).expand(3, -1, -1).contiguous(), target


def collate(batch: Sequence[tuple[torch.Tensor, Target]]) -> tuple[list[torch.Tensor], list[Target]]:
    """Lists of images and targets (the detector takes lists; sizes may differ)."""
    return [item[0] for item in batch], [item[1] for item in batch]


class ResumableSampler(Sampler[int]):
    """A seeded, shuffled, rank-sharded sampler (torch's :class:`DistributedSampler`) that can
    skip the first items of one epoch, so a resumed run continues mid-epoch with the same order.

    Parameters
    ----------
    dataset : the dataset (only its length is used).
    num_replicas, rank : the process group (1 and 0 outside distributed training).
    seed : shuffle seed; the order of epoch ``e`` is fixed by (seed, e).
    """

    def __init__(self, dataset: Dataset, num_replicas: int = 1, rank: int = 0, seed: int = 0) -> None:
        self.inner = DistributedSampler(dataset, num_replicas=num_replicas, rank=rank, shuffle=True,
                                        seed=int(seed), drop_last=False)
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """Order of ``epoch``; the first ``skip`` indices of this rank are left out."""
        self.inner.set_epoch(int(epoch))
        self.skip = max(0, int(skip))

    def __iter__(self) -> Iterator[int]:
        indices = list(self.inner)
        return iter(indices[self.skip:])

    def __len__(self) -> int:
        return max(0, len(self.inner) - self.skip)


def batches_per_epoch(n_items: int, batch: int, world_size: int = 1) -> int:
    """Optimiser steps in one epoch on each rank (the last batch may be short)."""
    per_rank = -(-int(n_items) // int(world_size))
    return max(1, -(-per_rank // int(batch)))


def describe_batch(images: Sequence[torch.Tensor], targets: Sequence[Target]) -> dict[str, Any]:
    """Small facts about a batch (for logs): image count, pixel count, instance count."""
    return {"images": len(images), "pixels": int(sum(img.shape[-1] * img.shape[-2] for img in images)),
            "instances": int(sum(len(t["labels"]) for t in targets))}
