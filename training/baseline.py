"""An honest threshold baseline: grey-level bands inside a crude lung mask.

What a learned model has to beat. On each slice (resized so the long side is
384 px, as BASELINES.md) in [0, 1] image units (lung window for HU, ÷255
for 8-bit):

1. crude lung mask: pixels darker than ``lung_max``, small specks removed,
   closed with a 5-px disc and holes filled (so lesions inside the lung,
   brighter than air, are inside the mask);
2. inside it, grey in [``ggo_min``, ``cons_min``) is GGO and grey at or
   above ``cons_min`` is consolidation.

The three numbers are chosen on the training slices by exhaustive search
(``lung_max`` from a few values, the two band edges on a 64-level grid),
maximising the mean of the GGO, consolidation and binary Dice (each the mean
over slices whose ground truth holds the class). The figures on the
validation slices are then computed the BASELINES way.

Run it: ``python -m training.baseline --data medseg/train --val medseg-split [--json]``.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from core_models.metrics import segmentation_report
from core_models.model_spec import Preprocessing
from training.augment import warp
from training.data.records import Sample

BASELINE_SIZE = 384
LEVELS = 64
LUNG_CANDIDATES: tuple[float, ...] = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
CLOSING_RADIUS = 5
MIN_SPECK_FRACTION = 0.002


@dataclass(frozen=True)
class Bands:
    """The baseline's three thresholds, in [0, 1] image units."""

    lung_max: float
    ggo_min: float
    cons_min: float


def resized(sample: Sample, size: int = BASELINE_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Image (bilinear) and labels (nearest) with the long side at ``size`` pixels."""
    return warp(sample.image, sample.labels, size / max(sample.image.shape), 0.0)


def lung_mask(image: np.ndarray, lung_max: float) -> np.ndarray:
    """Dark pixels, specks removed, closed and hole-filled."""
    dark = image < lung_max
    components, count = ndimage.label(dark)
    if count:
        sizes = np.bincount(components.ravel())
        keep = sizes >= MIN_SPECK_FRACTION * image.size
        keep[0] = False
        dark = keep[components]
    yy, xx = np.mgrid[-CLOSING_RADIUS:CLOSING_RADIUS + 1, -CLOSING_RADIUS:CLOSING_RADIUS + 1]
    disc = yy ** 2 + xx ** 2 <= CLOSING_RADIUS ** 2
    closed = ndimage.binary_closing(np.pad(dark, CLOSING_RADIUS), structure=disc)
    closed = closed[CLOSING_RADIUS:-CLOSING_RADIUS, CLOSING_RADIUS:-CLOSING_RADIUS]
    return ndimage.binary_fill_holes(closed)


def predict(image: np.ndarray, bands: Bands) -> np.ndarray:
    """Labels (0/1/2) of one [0, 1] image."""
    lung = lung_mask(image, bands.lung_max)
    out = np.zeros(image.shape, np.uint8)
    out[lung & (image >= bands.ggo_min)] = 1
    out[lung & (image >= bands.cons_min)] = 2
    return out


def _histograms(slices: Sequence[tuple[np.ndarray, np.ndarray]], lung_max: float) -> tuple[np.ndarray, np.ndarray]:
    """Per slice: counts (LEVELS, 3) of (grey level, true label) inside the lung; and true-label totals (3,)."""
    hist = np.zeros((len(slices), LEVELS, 3), np.int64)
    totals = np.zeros((len(slices), 3), np.int64)
    for i, (image, labels) in enumerate(slices):
        lung = lung_mask(image, lung_max)
        levels = np.minimum((image[lung] * LEVELS).astype(np.int64), LEVELS - 1)
        hist[i] = np.bincount(levels * 3 + labels[lung], minlength=LEVELS * 3).reshape(LEVELS, 3)
        totals[i] = np.bincount(labels.ravel(), minlength=3)[:3]
    return hist, totals


def _score_grid(hist: np.ndarray, totals: np.ndarray) -> tuple[float, int, int]:
    """Best (objective, ggo level, consolidation level) over all band edges a < b."""
    above = np.cumsum(hist[:, ::-1], axis=1)[:, ::-1]  # (slices, level, label): counts at level >= l
    above = np.concatenate([above, np.zeros_like(above[:, :1])], axis=1)
    best = (-1.0, 0, LEVELS)
    n_with = [(totals[:, c] > 0).sum() for c in range(3)]
    any_gt = totals[:, 1] + totals[:, 2]
    n_bin = max(int((any_gt > 0).sum()), 1)
    for b in range(1, LEVELS + 1):
        cons_tp, cons_all = above[:, b, 2], above[:, b].sum(-1)
        d_cons = _per_class(cons_tp, cons_all - cons_tp, totals[:, 2], n_with[2])
        a = np.arange(0, b)
        ggo_tp = above[:, a, 1] - above[:, b, 1][:, None]                       # (slices, a)
        ggo_all = above[:, a].sum(-1) - above[:, b].sum(-1)[:, None]
        bin_tp = above[:, a, 1] + above[:, a, 2]
        bin_fp = above[:, a, 0]
        d_ggo = _per_class(ggo_tp.T, (ggo_all - ggo_tp).T, totals[:, 1], n_with[1])
        d_bin = _per_class(bin_tp.T, bin_fp.T, any_gt, n_bin)
        objective = (d_ggo + d_cons + d_bin) / 3.0
        i = int(np.argmax(objective))
        if objective[i] > best[0]:
            best = (float(objective[i]), int(a[i]), b)
    return best


def _per_class(tp: np.ndarray, fp: np.ndarray, gt: np.ndarray, n_with: int) -> np.ndarray:
    """Mean Dice over the slices holding the class; ``tp``/``fp`` (..., slices)."""
    has = gt > 0
    dice = np.where(has, 2.0 * tp / np.maximum(2.0 * tp + fp + (gt - tp), 1.0), 0.0)
    return dice.sum(-1) / max(int(n_with), 1)


def fit_bands(samples: Sequence[Sample]) -> Bands:
    """Choose the lung threshold and the two band edges on training samples."""
    slices = [resized(s) for s in samples]
    best: tuple[float, Bands] | None = None
    for lung_max in LUNG_CANDIDATES:
        hist, totals = _histograms(slices, lung_max)
        score, a, b = _score_grid(hist, totals)
        if best is None or score > best[0]:
            best = (score, Bands(lung_max, a / LEVELS, b / LEVELS if b < LEVELS else 1.01))
    assert best is not None
    return best[1]


def evaluate_bands(samples: Sequence[Sample], bands: Bands) -> dict:
    """BASELINES-style figures of the baseline on ``samples`` (segmentation report + flat Dice)."""
    slices = [resized(s) for s in samples]
    report = segmentation_report([predict(img, bands) for img, _ in slices], [lab for _, lab in slices])
    means = report["slice_mean"]
    return {"bands": asdict(bands), "n_slices": report["n_slices"],
            "dice_ggo": means["ggo"]["dice"], "dice_consolidation": means["consolidation"]["dice"],
            "dice_binary": means["binary"]["dice"], "report": report}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m training.baseline --data PATH ... --val medseg-split|PATH ... [--json]``."""
    from core_models.errors import LesionLoopError
    from training.config import TrainConfig
    from training.data.records import SliceReader
    from training.prepare import resolve_data

    parser = argparse.ArgumentParser(prog="python -m training.baseline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", required=True)
    parser.add_argument("--val", nargs="+", required=True)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        data = resolve_data(TrainConfig(data=args.data, val=args.val, out="-"))
        reader = SliceReader(Preprocessing())
        bands = fit_bands([reader.load(r) for r in data.train])
        result = evaluate_bands([reader.load(r) for r in data.val], bands)
    except LesionLoopError as exc:
        print(f"baseline: error: {exc}", file=sys.stderr)
        return 2
    result.pop("report")
    if args.json:
        print(json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in result.items()}))
    else:
        print(f"bands {result['bands']} on {result['n_slices']} validation slices: GGO Dice {result['dice_ggo']:.3f}, "
              f"consolidation Dice {result['dice_consolidation']:.3f}, binary Dice {result['dice_binary']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
