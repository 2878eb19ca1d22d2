"""The before/after table: two models scored on the same validation slices.

Both models run through :func:`training.evaluate.evaluate_samples` (the
inference users get), each with its own preprocessing, on the same records
and with the same minimum instance area. Used by ``lesionloop train
--compare-with`` (the viewer's retraining) and ``bench/loop_gain.py``.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core_models.errors import InputError
from training.data.records import SliceRecord

#: the table's rows: summary key -> row name
TABLE_ROWS: dict[str, str] = {"dice_ggo": "Dice GGO", "dice_consolidation": "Dice consolidation",
                              "dice_binary": "binary Dice", "map": "mask mAP"}
#: the figure that decides whether the new model is worse (as the registry's gate)
GATE_METRIC = "dice_binary"


def evaluate_model(model: str | Path, records: Sequence[SliceRecord], *, device: str = "auto",
                   min_area: int = 101, batch_size: int = 4) -> dict[str, Any]:
    """Score one model (folder or registered version) on ``records``.

    Returns
    -------
    dict
        ``version``, ``model`` (folder), ``summary`` (flat figures of :func:`training.evaluate.summary`).
    """
    from core_models.checkpoints import load_model
    from core_models.model_store import resolve_model_dir
    from training.data.records import SliceReader
    from training.evaluate import evaluate_samples

    folder = resolve_model_dir(str(model))
    net, spec = load_model(folder)
    reader = SliceReader(spec.preprocessing)
    samples = [reader.load(r) for r in records]
    report = evaluate_samples(net, spec, samples, device=device, batch_size=batch_size, min_area=min_area)
    return {"version": spec.metadata.version or folder.name, "model": str(folder), "summary": report["summary"]}


def compare_models(before: str | Path, after: str | Path, records: Sequence[SliceRecord], *, device: str = "auto",
                   min_area: int = 101, batch_size: int = 4) -> dict[str, Any]:
    """The before/after table of two models on the same slices.

    Parameters
    ----------
    before, after : model folders or registered version names.
    records : the validation slices (e.g. :func:`training.data.sources.collect_records`).
    device, min_area, batch_size : as for :func:`training.evaluate.evaluate_samples`
        (``min_area`` in pixels).

    Returns
    -------
    dict
        ``n_slices``, ``min_area``, ``validation`` (hash of the slices' ids and labels),
        ``before`` / ``after`` (:func:`evaluate_model`), ``rows`` (one per
        :data:`TABLE_ROWS` entry: ``key``, ``name``, ``before``, ``after``, ``change``;
        ``None`` where a figure is not finite) and ``worse`` (the new model's
        binary Dice is below the old one's).
    """
    from core_models.checkpoints import read_spec
    from training.data.records import SliceReader
    from training.data.splits import data_hash

    if not records:
        raise InputError("the before/after table needs validation slices")
    first = evaluate_model(before, records, device=device, min_area=min_area, batch_size=batch_size)
    second = evaluate_model(after, records, device=device, min_area=min_area, batch_size=batch_size)
    prep = read_spec(Path(second["model"])).preprocessing
    table = {"n_slices": len(records), "min_area": int(min_area),
             "validation": data_hash(records, SliceReader(prep)), "before": first, "after": second}
    table["rows"] = table_rows(first["summary"], second["summary"])
    table["worse"] = is_worse(first["summary"], second["summary"])
    return table


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def table_rows(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of the table from two flat summaries (``change`` = after − before)."""
    rows = []
    for key, name in TABLE_ROWS.items():
        a, b = _finite(before.get(key)), _finite(after.get(key))
        rows.append({"key": key, "name": name, "before": a, "after": b,
                     "change": None if a is None or b is None else b - a})
    return rows


def is_worse(before: dict[str, Any], after: dict[str, Any], metric: str = GATE_METRIC) -> bool:
    """Whether ``after`` scores lower than ``before`` on ``metric`` (False when either is missing)."""
    a, b = _finite(before.get(metric)), _finite(after.get(metric))
    return a is not None and b is not None and b < a


def format_table(table: dict[str, Any]) -> str:
    """The table as fixed-width text (for the terminal and the log)."""
    head = f"{'':<20}{table['before']['version'][:22]:>24}{table['after']['version'][:22]:>24}{'change':>9}"
    lines = [f"before/after on {table['n_slices']} validation slices", head]
    for row in table["rows"]:
        cells = [("-" if v is None else f"{v:.3f}") for v in (row["before"], row["after"])]
        change = "-" if row["change"] is None else f"{row['change']:+.3f}"
        lines.append(f"{row['name']:<20}{cells[0]:>24}{cells[1]:>24}{change:>9}")
    return "\n".join(lines)
