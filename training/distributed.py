"""Distributed data-parallel training under ``torchrun``.

The same ``lesionloop train`` (or ``python -m training train``) command runs
in every process started by::

    torchrun --nproc_per_node N -m training train --data ... --out DIR

torchrun sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; :func:`setup`
then joins the process group (NCCL on CUDA, gloo on the CPU), each process
takes GPU ``LOCAL_RANK`` (or the CPU), the model is wrapped in
:class:`~torch.nn.parallel.DistributedDataParallel`, and the data is sharded
by a :class:`~torch.utils.data.DistributedSampler`. Rank 0 alone validates,
writes files and prints; the others wait for it at a barrier. A stop request
on any rank stops every rank at the same step. Without those variables
(or with ``WORLD_SIZE=1``) nothing here does anything.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from core_models.devices import select_device
from core_models.errors import LesionLoopError

#: how long ranks wait for rank 0 (validation, checkpoints) before giving up
WAIT_LIMIT = datetime.timedelta(hours=2)


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: rank, world size, its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str | None = None

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        raise LesionLoopError(f"environment variable {name} must be a whole number") from None


def env_rank() -> int:
    """This process's rank as torchrun set it (0 outside distributed runs)."""
    return _env_int("RANK", 0) if _env_int("WORLD_SIZE", 1) > 1 else 0


def setup(device: str = "auto") -> DistContext:
    """Join the torchrun process group if there is one; pick this process's device."""
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return DistContext(device=select_device(device))
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    chosen = select_device(device)
    if chosen.type == "cuda":
        chosen = torch.device("cuda", local_rank)
        torch.cuda.set_device(chosen)
        backend = "nccl"
    elif chosen.type == "cpu":
        backend = "gloo"
    else:
        raise LesionLoopError(f"distributed training runs on CUDA or the CPU, not {chosen.type}")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, timeout=WAIT_LIMIT)
    return DistContext(rank, world, local_rank, chosen, backend)


def wrap(model: nn.Module, ctx: DistContext) -> nn.Module:
    """The model wrapped in DistributedDataParallel (unchanged outside distributed runs)."""
    if not ctx.distributed:
        return model
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def unwrap(model: nn.Module) -> nn.Module:
    """The plain model inside a DDP wrapper."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def any_rank(flag: bool, ctx: DistContext) -> bool:
    """True on every rank when ``flag`` is True on any rank."""
    if not ctx.distributed:
        return bool(flag)
    value = torch.tensor([1.0 if flag else 0.0], device=ctx.device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def mean_over_ranks(values: dict[str, float], ctx: DistContext) -> dict[str, float]:
    """Each value averaged over ranks (for logging losses); same keys on every rank required."""
    if not ctx.distributed or not values:
        return values
    keys = sorted(values)
    tensor = torch.tensor([float(values[k]) for k in keys], device=ctx.device, dtype=torch.float64)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return {k: float(v) / ctx.world_size for k, v in zip(keys, tensor.tolist())}


def barrier(ctx: DistContext) -> None:
    """Wait until every rank arrives."""
    if ctx.distributed:
        dist.barrier()


def broadcast(obj: Any, ctx: DistContext) -> Any:
    """Rank 0's ``obj`` on every rank (picklable objects)."""
    if not ctx.distributed:
        return obj
    box = [obj if ctx.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def cleanup(ctx: DistContext) -> None:
    """Leave the process group."""
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()
