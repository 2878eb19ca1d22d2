"""What a run leaves on disk besides its models: ``state.pt`` (resume) and ``curves.jsonl``.

``state.pt`` is written with :func:`torch.save` and holds only tensors and
plain Python values (model and optimiser state dicts, the scheduler's and
gradient scaler's state, counters, the best figure so far, random number
generator states), so it is read back with ``torch.load(weights_only=True)``:
loading it can never run code. Writes are atomic.

``curves.jsonl`` holds one JSON object per line: ``{"kind": "step", ...}``
every ``log_every`` steps and ``{"kind": "epoch", ...}`` after each epoch.
It is rewritten atomically at each flush; on resume, lines beyond the
resumed step are dropped so the file matches the continued run.
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core_models.atomic import atomic_path, atomic_write_text, json_safe
from core_models.errors import InputError

STATE_NAME = "state.pt"
CURVES_NAME = "curves.jsonl"
STATE_SCHEMA = 1


def rng_state() -> dict[str, Any]:
    """States of the torch (CPU and CUDA), numpy and Python generators, as tensors and plain values."""
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "gauss": float(np_state[4])},
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Put back what :func:`rng_state` saved."""
    torch.set_rng_state(state["torch"])
    np_part = state["numpy"]
    np.random.set_state(("MT19937", np_part["keys"].numpy().astype(np.uint32), np_part["pos"],
                         np_part["has_gauss"], np_part["gauss"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_state(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` (tensors and plain values) atomically with :func:`torch.save`."""
    body = {"schema": STATE_SCHEMA, **state}
    with atomic_path(path) as tmp:
        torch.save(body, tmp)


def load_state(path: str | Path) -> dict[str, Any]:
    """Read a state file weights-only; :class:`InputError` if it is missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"nothing to resume: {path} does not exist (train without --resume first)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch.load raises many types for bad files
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"{path} is not a readable training state ({first[:120]})") from None
    if not isinstance(state, dict) or state.get("schema") != STATE_SCHEMA:
        raise InputError(f"{path} is not a training state this LesionLoop can resume")
    return state


def read_curves(run_dir: str | Path) -> list[dict[str, Any]]:
    """The records of ``run_dir/curves.jsonl`` in order (``[]`` without one); lines that are not JSON objects are skipped."""
    path = Path(run_dir) / CURVES_NAME
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


class CurveLog:
    """The lines of ``curves.jsonl``, kept in memory and rewritten atomically on :meth:`flush`."""

    def __init__(self, path: str | Path, enabled: bool = True) -> None:
        self.path = Path(path)
        self.enabled = enabled
        self.lines: list[str] = []

    def resume(self, global_step: int) -> None:
        """Load the existing file, keeping only lines up to ``global_step``."""
        if not self.enabled or not self.path.is_file():
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if int(record.get("step", 0)) <= global_step:
                kept.append(line)
        self.lines = kept

    def add(self, record: dict[str, Any]) -> None:
        if self.enabled:
            self.lines.append(json.dumps(json_safe(record)))

    def flush(self) -> None:
        if self.enabled:
            atomic_write_text(self.path, "".join(line + "\n" for line in self.lines))

