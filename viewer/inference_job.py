"""The inference job the viewer runs in its worker, and the models it can pick from."""
from __future__ import annotations

import threading
import warnings
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core_models.errors import ModelError
from core_models.prediction import Prediction, Progress
from core_models.volume import CTVolume

_CACHE: dict[str, tuple[Any, Any]] = {}
_CACHE_LOCK = threading.Lock()


@dataclass(frozen=True)
class ModelChoice:
    """One entry of the model picker."""

    name: str
    path: Path
    active: bool
    label: str


def available_models() -> list[ModelChoice]:
    """Bundled and registered versions that can be loaded, the active one first."""
    from core_models.model_store import list_versions

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        versions = list_versions()
    choices = []
    for info in versions:
        if info.broken:
            continue
        tag = " (active)" if info.active else ""
        choices.append(ModelChoice(info.version, Path(info.path), info.active, f"{info.version}{tag}"))
    return sorted(choices, key=lambda c: not c.active)


def load_cached(folder: Path) -> tuple[Any, Any]:
    """(model, spec) of ``folder``, loaded once per process."""
    from core_models.checkpoints import load_model

    key = str(Path(folder).resolve())
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = load_model(folder)
        return _CACHE[key]


def device_name(device: str = "auto") -> str:
    """What ``device`` resolves to here, e.g. ``CPU (2 threads)``."""
    from core_models.devices import describe_device, select_device

    return describe_device(select_device(device))


def inference_job(model_dir: Path, volume: CTVolume, *, device: str = "auto", batch_size: int = 2,
                  slice_order: list[int] | None = None, restrict_to_lungs: bool | None = None):
    """A job factory for :class:`~viewer.workers.JobRunner`: load the model, run inference.

    ``slice_order`` lets the viewer start at the slice being looked at;
    ``restrict_to_lungs`` (``None``: the spec's value) drops lesions outside the lungs on HU volumes.
    """
    def factory(cancel: threading.Event) -> Generator[Any, None, Prediction]:
        from core_models.inference import run_inference

        yield Progress(0, volume.shape[0], f"loading model {Path(model_dir).name}")
        if not Path(model_dir).is_dir():
            raise ModelError(f"model folder {model_dir} does not exist")
        model, spec = load_cached(Path(model_dir))
        if cancel.is_set():
            yield Progress(0, volume.shape[0], "cancelled")
        result = yield from run_inference(model, spec, volume, device=device, batch_size=batch_size,
                                          cancel=cancel, slice_indices=slice_order,
                                          restrict_to_lungs=restrict_to_lungs)
        return result

    return factory


def centre_out_order(n: int, start: int) -> list[int]:
    """Slice indices 0..n-1 ordered by distance from ``start`` (the slice on screen first)."""
    start = min(max(int(start), 0), max(n - 1, 0))
    return sorted(range(n), key=lambda z: (abs(z - start), z))
