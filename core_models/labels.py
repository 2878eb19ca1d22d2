"""The one label table: values, names and colours of lesion classes.

LesionLoop's label values follow the MedSeg convention: 0 background,
1 ground-glass opacity (GGO), 2 consolidation. Names and colours live in
``resources/labels.json``. The seed's PNG convention (0 background, 1 lung,
2 GGO, 3 consolidation) is converted here and only at the IO edges.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from core_models.errors import InputError
from core_models.paths import resources_dir

BACKGROUND = 0
GGO = 1
CONSOLIDATION = 2

#: seed PNG value -> our value (lung counts as background)
SEED_TO_OURS = np.array([0, 0, 1, 2], dtype=np.uint8)
SEED_LUNG = 1


@dataclass(frozen=True)
class Label:
    """One entry of the label table."""

    value: int
    key: str
    name: str
    color: tuple[int, int, int]


@dataclass(frozen=True)
class LabelTable:
    """Ordered label entries, background first."""

    name: str
    labels: tuple[Label, ...]

    @property
    def values(self) -> tuple[int, ...]:
        return tuple(lab.value for lab in self.labels)

    @property
    def max_value(self) -> int:
        return max(self.values)

    def by_value(self, value: int) -> Label:
        for lab in self.labels:
            if lab.value == value:
                return lab
        raise KeyError(value)

    def foreground(self) -> tuple[Label, ...]:
        """The lesion labels (everything but background)."""
        return tuple(lab for lab in self.labels if lab.value != BACKGROUND)

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "labels": [
                {"value": lab.value, "key": lab.key, "name": lab.name, "color": list(lab.color)}
                for lab in self.labels
            ],
        }

    @classmethod
    def from_json(cls, data: dict) -> LabelTable:
        labels = tuple(
            Label(int(d["value"]), str(d["key"]), str(d["name"]), tuple(int(c) for c in d["color"]))
            for d in data["labels"]
        )
        return cls(str(data.get("name", "labels")), labels)


@lru_cache(maxsize=1)
def default_label_table() -> LabelTable:
    """The bundled label table from ``resources/labels.json``."""
    path: Path = resources_dir() / "labels.json"
    with open(path, encoding="utf-8") as fh:
        return LabelTable.from_json(json.load(fh))


def check_label_values(array: np.ndarray, table: LabelTable | None = None, what: str = "label map") -> None:
    """Raise :class:`InputError` if ``array`` holds values outside the table."""
    table = table or default_label_table()
    values = sorted(table.values)
    if array.size and np.issubdtype(array.dtype, np.integer) and values == list(range(values[-1] + 1)):
        # contiguous table 0..m: min and max decide (np.unique on a 300-slice volume takes ~0.3 s)
        if int(array.min()) >= 0 and int(array.max()) <= values[-1]:
            return
    present = np.unique(array)
    bad = sorted(v for v in present.tolist() if v not in set(table.values))  # 2.5 is not 2
    if bad:
        raise InputError(
            f"{what} holds label values {bad[:8]} that are not in the label table "
            f"{list(table.values)}"
        )


def from_seed(mask: np.ndarray) -> np.ndarray:
    """Seed PNG mask (0 bg, 1 lung, 2 GGO, 3 consolidation) -> our labels."""
    if mask.size and int(mask.max()) > 3:
        raise InputError(f"seed mask holds value {int(mask.max())}; expected 0-3 (bg, lung, GGO, consolidation)")
    return SEED_TO_OURS[mask.astype(np.intp, copy=False)]


def to_seed(labels: np.ndarray, lung: np.ndarray | None = None) -> np.ndarray:
    """Our labels -> seed PNG convention; ``lung`` (bool) marks lung as 1 where no lesion."""
    check_label_values(labels)
    out = np.zeros(labels.shape, dtype=np.uint8)
    if lung is not None:
        out[lung.astype(bool)] = SEED_LUNG
    out[labels == GGO] = 2
    out[labels == CONSOLIDATION] = 3
    return out
