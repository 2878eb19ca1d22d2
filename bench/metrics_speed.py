#!/usr/bin/env python
"""Metrics speed on a realistic-ish 300x512x512 pair (lesions inside two lung ellipsoids). Prints seconds.

Run: python bench/metrics_speed.py
"""
from __future__ import annotations
import time
import numpy as np
from scipy import ndimage
from core_models.metrics import overlap_scores, segmentation_report, surface_distance_scores

rng = np.random.default_rng(1)
shape = (300, 512, 512)
z, y, x = np.ogrid[:300, :512, :512]
lungs = (((z - 150) / 130) ** 2 + ((y - 256) / 150) ** 2 + ((x - 150) / 90) ** 2 < 1) | \
        (((z - 150) / 130) ** 2 + ((y - 256) / 150) ** 2 + ((x - 362) / 90) ** 2 < 1)
noise = ndimage.zoom(ndimage.gaussian_filter(rng.standard_normal((38, 64, 64)).astype(np.float32), 2.5), 8, order=1)[:300]
def labels(field, a, b):
    out = np.zeros(shape, np.uint8); out[(field > a) & lungs] = 1; out[(field > b) & lungs] = 2; return out
gt = labels(noise, 0.04, 0.09)
pred = labels(np.roll(noise, (1, 3, -2), axis=(0, 1, 2)), 0.045, 0.095)
print("lesion volume mL gt", (gt > 0).sum() * 0.7 * 0.7 * 1.25 / 1000, "pred", (pred > 0).sum() * 0.7 * 0.7 * 1.25 / 1000)
for name, fn in [("overlap_scores", lambda: overlap_scores(pred, gt)),
                 ("segmentation_report", lambda: segmentation_report(pred, gt)),
                 ("surface_distance_scores", lambda: surface_distance_scores(pred, gt, (1.25, 0.7, 0.7)))]:
    t = time.perf_counter(); r = fn(); dt = time.perf_counter() - t
    print(f"{name}: {dt:.2f} s", {k: {m: round(v, 3) for m, v in d.items() if isinstance(v, float)} for k, d in r.get("pooled", r).items()})
