"""Safe model checkpoints: ``weights.safetensors`` + ``spec.json`` in one folder.

Weights are stored with safetensors (no code can run while loading), fp16
when ``half`` (the small bundled model) and loaded back into fp32 modules.
A folder may instead hold ``weights.pt``/``weights.pth`` written by
``torch.save(state_dict)``; those are read with ``torch.load(...,
weights_only=True)`` only. Nothing else is ever unpickled. Every failure
becomes a one-line :class:`~core_models.errors.ModelError`.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from core_models.atomic import atomic_path, atomic_write_json
from core_models.errors import ModelError
from core_models.model_spec import ModelSpec, build

WEIGHTS_NAME = "weights.safetensors"
SPEC_NAME = "spec.json"
TORCH_WEIGHT_NAMES = ("weights.pt", "weights.pth")
_STATE_KEYS = ("model_weights", "state_dict", "model")
_EXAMPLES = 3


def _storable(tensor: torch.Tensor, half: bool) -> torch.Tensor:
    tensor = tensor.detach().cpu().contiguous()
    return tensor.half() if half and tensor.is_floating_point() else tensor


def check_state_fits(model: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Raise :class:`ModelError` unless ``state`` has exactly ``model``'s keys and shapes."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:_EXAMPLES])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:_EXAMPLES])})")
        raise ModelError(f"{source} does not fit its model spec: {'; '.join(parts)} weights")
    wrong = [k for k, v in own.items() if tuple(state[k].shape) != tuple(v.shape)]
    if wrong:
        k = wrong[0]
        raise ModelError(f"{source} does not fit its model spec: {k} has shape "
                         f"{tuple(state[k].shape)}, expected {tuple(own[k].shape)} ({len(wrong)} such)")


def load_state(model: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Check, cast to the model's dtypes (fp16 → fp32) and load ``state`` into ``model``."""
    check_state_fits(model, state, source)
    own = model.state_dict()
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=True)


def save_model(model: nn.Module, spec: ModelSpec, folder: str | Path, *, half: bool = False) -> Path:
    """Write ``weights.safetensors`` and ``spec.json`` into ``folder`` atomically.

    Parameters
    ----------
    model : nn.Module
        A network built from ``spec`` (checked: same weight names and shapes).
    spec : ModelSpec
    folder : path
        Created if needed; files in it are replaced atomically.
    half : bool
        Store floating-point weights as fp16 (half the size; for the bundled model).

    Returns
    -------
    Path
        The folder.
    """
    folder = Path(folder)
    check_state_fits(build(spec), model.state_dict(), "the model")
    tensors = {k: _storable(v, half) for k, v in model.state_dict().items()}
    metadata = {"format": "pt", "dtype": "float16" if half else "float32", "builder": spec.builder}
    try:
        with atomic_path(folder / WEIGHTS_NAME) as tmp:
            save_file(tensors, str(tmp), metadata=metadata)
        atomic_write_json(folder / SPEC_NAME, spec.to_json())
    except OSError as exc:
        raise ModelError(f"cannot write the model to {folder}: {exc.strerror or exc}") from None
    return folder


def write_spec(folder: str | Path, spec: ModelSpec) -> Path:
    """Replace ``folder/spec.json`` atomically with ``spec`` (the weights are left as they are)."""
    path = Path(folder) / SPEC_NAME
    try:
        atomic_write_json(path, spec.to_json())
    except OSError as exc:
        raise ModelError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def read_spec(folder: str | Path) -> ModelSpec:
    """The :class:`ModelSpec` in ``folder/spec.json``."""
    path = Path(folder) / SPEC_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path} is missing: not a LesionLoop model folder") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path} is not readable JSON ({type(exc).__name__})") from None
    return ModelSpec.from_json(data)


def _state_from_object(obj: Any, source: str) -> dict[str, torch.Tensor]:
    if isinstance(obj, Mapping):
        for key in _STATE_KEYS:
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
        if obj and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
            return dict(obj)
    raise ModelError(f"{source} holds no state dict of tensors")


def read_torch_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A ``torch.save``d state dict (plain, or under ``model_weights``/``state_dict``), read weights-only."""
    path = Path(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelError(f"{path} does not exist") from None
    except Exception as exc:  # noqa: BLE001 - torch.load raises many types for bad files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{path} is not a readable weights-only torch file ({first[:120]})") from None
    return _state_from_object(obj, str(path))


def read_weights(folder: str | Path) -> tuple[dict[str, torch.Tensor], Path]:
    """The weights of a model folder and the file they came from."""
    folder = Path(folder)
    path = folder / WEIGHTS_NAME
    if path.is_file():
        try:
            return load_file(str(path)), path
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise ModelError(f"{path} is truncated or corrupt ({type(exc).__name__})") from None
    for name in TORCH_WEIGHT_NAMES:
        if (folder / name).is_file():
            return read_torch_state_dict(folder / name), folder / name
    raise ModelError(f"{folder} holds no {WEIGHTS_NAME} (or {' / '.join(TORCH_WEIGHT_NAMES)})")


def load_model(folder: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, ModelSpec]:
    """Rebuild the model in ``folder`` from its spec and weights, in eval mode on ``device``.

    Raises
    ------
    ModelError
        When the folder, spec or weights are missing, corrupt or do not fit.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError(f"model folder {folder} does not exist")
    spec = read_spec(folder)
    state, source = read_weights(folder)
    model = build(spec)
    load_state(model, state, str(source))
    try:
        model.to(device)
    except (RuntimeError, AssertionError, ValueError) as exc:
        raise ModelError(f"cannot move the model to device {device!r}: {str(exc).splitlines()[0][:120]}") from None
    model.eval()
    return model, spec
