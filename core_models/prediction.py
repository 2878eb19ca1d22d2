"""What inference produces: per-slice RoIs and class probabilities, a label map.

Kept small on purpose: each RoI keeps its 28×28 mask logits (float16) and its
box; the viewer pastes logits into the box only when a RoI is shown.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core_models.volume import LabelMap

CLASS_NAMES: tuple[str, str, str] = ("Control", "Common pneumonia", "COVID-19")


@dataclass(frozen=True)
class Progress:
    """A progress report between slices: ``done`` of ``total`` slices."""

    done: int
    total: int
    message: str = ""

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


@dataclass
class RoI:
    """One detection on one slice.

    Attributes
    ----------
    box : (x0, y0, x1, y1) in original image pixels (float).
    label : our label value (1 GGO, 2 consolidation).
    score : detector confidence in [0, 1].
    mask_logits : (28, 28) float16 mask logits of the detected class, not pasted.
    """

    box: tuple[float, float, float, float]
    label: int
    score: float
    mask_logits: np.ndarray

    def to_json(self, with_logits: bool = False) -> dict:
        out = {"box": [round(float(v), 2) for v in self.box], "label": int(self.label), "score": round(float(self.score), 4)}
        if with_logits:
            out["mask_logits"] = np.round(self.mask_logits.astype(np.float32), 3).tolist()
        return out


@dataclass
class SliceResult:
    """Everything inference found on one axial slice ``index``."""

    index: int
    rois: list[RoI]
    labels: np.ndarray  # (H, W) uint8, 0/1/2 on the original grid
    class_probs: np.ndarray | None = None  # (3,) Control / CP / COVID-19, sums to 1
    area_mm2: dict[int, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "index": self.index,
            "class_probs": None if self.class_probs is None else [round(float(p), 4) for p in self.class_probs],
            "lesion_area_mm2": {str(k): round(v, 2) for k, v in self.area_mm2.items()},
            "detections": [r.to_json() for r in self.rois],
        }


@dataclass
class Timings:
    """Seconds spent per stage, summed over slices."""

    preprocess: float = 0.0
    model: float = 0.0
    postprocess: float = 0.0
    total: float = 0.0

    def to_json(self, n_slices: int) -> dict:
        per = self.total / n_slices if n_slices else 0.0
        return {"preprocess_s": round(self.preprocess, 4), "model_s": round(self.model, 4),
                "postprocess_s": round(self.postprocess, 4), "total_s": round(self.total, 4),
                "per_slice_s": round(per, 4)}


def aggregate_class_probs(slices: list[SliceResult]) -> np.ndarray | None:
    """Series-level Control / CP / COVID-19 probabilities.

    The mean of the per-slice probability vectors over the slices that hold
    predicted lesion (the slices the classifier's evidence comes from); when
    no slice holds lesion, the mean over all slices. ``None`` without a
    classifier.
    """
    probs = [s for s in slices if s.class_probs is not None]
    if not probs:
        return None
    with_lesion = [s for s in probs if any(v > 0 for v in s.area_mm2.values())]
    chosen = with_lesion or probs
    return np.mean([s.class_probs for s in chosen], axis=0)


@dataclass
class Prediction:
    """The result of running a model over a volume (possibly cancelled part-way)."""

    labels: LabelMap
    slices: dict[int, SliceResult]
    model_version: str
    device: str
    complete: bool
    timings: Timings
    warnings: list[str] = field(default_factory=list)
    classifier_note: str = ""
    notes: list[str] = field(default_factory=list)  # what post-processing did (not a problem)
    restricted_to_lungs: bool = False  # whether lesions outside the lungs were dropped (HU volumes only)

    @property
    def series_class_probs(self) -> np.ndarray | None:
        return aggregate_class_probs([self.slices[k] for k in sorted(self.slices)])

    def volumes_ml(self) -> dict[int, float]:
        """Lesion volume per label value in mL (from the voxel spacing)."""
        return self.labels.volumes_ml()

    def to_report(self) -> dict:
        """JSON-ready report (``lesionloop infer --report``)."""
        agg = self.series_class_probs
        return {
            "model_version": self.model_version,
            "device": self.device,
            "complete": self.complete,
            "slices_done": len(self.slices),
            "slices_total": self.labels.shape[0],
            "series": {
                "class_names": list(CLASS_NAMES),
                "class_probs": None if agg is None else [round(float(p), 4) for p in agg],
                "aggregate": "mean of per-slice probabilities over slices with predicted lesion (all slices if none)",
                "classifier_note": self.classifier_note,
                "lesion_volume_ml": {str(k): round(v, 3) for k, v in self.volumes_ml().items()},
            },
            "timings": self.timings.to_json(len(self.slices)),
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "restrict_to_lungs": self.restricted_to_lungs,
            "slices": [self.slices[k].to_json() for k in sorted(self.slices)],
        }
