"""Choosing the compute device and describing it to the user."""
from __future__ import annotations

import torch

from core_models.errors import LesionLoopError


def select_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU; otherwise the named device.

    Raises :class:`LesionLoopError` when the named device is not available.
    """
    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise LesionLoopError(f"unknown device {name!r} (use auto, cpu, cuda, cuda:N or mps)") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise LesionLoopError("device cuda was asked for, but no CUDA GPU is available here (use --device cpu or auto)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise LesionLoopError(f"device {name} does not exist: {torch.cuda.device_count()} CUDA GPU(s) here")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise LesionLoopError("device mps was asked for, but Apple MPS is not available here")
    return device


def describe_device(device: torch.device) -> str:
    """Human name: the GPU's name, or ``CPU (N threads)``."""
    if device.type == "cuda":
        return f"GPU {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({torch.get_num_threads()} threads)"


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA/MPS out-of-memory errors."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
