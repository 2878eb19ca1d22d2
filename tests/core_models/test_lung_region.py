"""The lung region of a HU slice and dropping predicted lesions outside it (also through inference)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core_models.errors import ModelError
from core_models.inference import run_inference, run_to_completion
from core_models.lung_region import lung_region, restrict_to_lungs
from core_models.model_spec import ModelSpec
from core_models.phantom import PhantomConfig, generate_case
from core_models.prediction import RoI
from core_models.volume import CTVolume, Geometry
from tests.conftest import make_tiny_spec


@pytest.fixture(scope="module")
def phantom():
    return generate_case(0, 7, PhantomConfig(size=160, slices=6, kind="covid", vessels=False))


def _chest(spacing_yx: tuple[float, float], fov_mm: float = 240.0) -> np.ndarray:
    """A drawn chest slice in physical units: air, an elliptic body, two 'lungs', a table with an air pocket."""
    sy, sx = spacing_yx
    y, x = np.mgrid[0:round(fov_mm / sy), 0:round(fov_mm / sx)].astype(float)
    y, x = (y + 0.5) * sy - fov_mm / 2, (x + 0.5) * sx - fov_mm / 2  # pixel centres in mm, 0 at the middle
    hu = np.full(y.shape, -1000.0)
    hu[(x / 100) ** 2 + (y / 70) ** 2 <= 1] = 40.0  # body
    for cx in (-45.0, 45.0):
        hu[((x - cx) / 35) ** 2 + (y / 45) ** 2 <= 1] = -850.0  # lungs
    hu[(y >= 80) & (y <= 100) & (np.abs(x) <= 100)] = 200.0  # table, not touching the body
    hu[(y >= 85) & (y <= 95) & (np.abs(x) <= 60)] = -1000.0  # air pocket in the table (1200 mm²)
    return hu


def _mm2(mask: np.ndarray, spacing_yx: tuple[float, float]) -> float:
    return float(mask.sum()) * spacing_yx[0] * spacing_yx[1]


# lung_region -------------------------------------------------------------------------------

def test_region_covers_the_phantom_lungs_and_not_the_air_outside(phantom) -> None:
    volume, _, meta = phantom
    spacing = volume.spacing[1:]
    for z in (2, 3):
        region = lung_region(volume.array[z], spacing)
        lung = meta["lung_mask"][z]
        assert lung.sum() > 500
        assert (region & lung).sum() >= 0.95 * lung.sum()
        outside_air = np.zeros_like(lung)
        outside_air[:, :3] = outside_air[:, -3:] = outside_air[:3] = outside_air[-3:] = True
        assert not (region & outside_air).any()
        # nothing farther than the margin (10 mm, plus a pixel) from the lung
        from scipy import ndimage

        far = ndimage.distance_transform_edt(~lung, sampling=spacing) > 10.0 + max(spacing) + 2.0
        assert (region & far).sum() <= 0.01 * region.sum()


def test_region_is_physical_at_two_pixel_sizes_and_anisotropic_pixels() -> None:
    areas = {}
    for spacing in ((1.0, 1.0), (0.5, 0.5), (0.5, 1.0)):
        hu = _chest(spacing)
        region = lung_region(hu, spacing)
        areas[spacing] = _mm2(region, spacing)
        sy, sx = spacing
        rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
        # lungs reach y = ±45 mm and x = ±80 mm; the region is 10 mm wider on every side
        assert (rows[-1] + 1) * sy - 120 == pytest.approx(55.0, abs=1.5)
        assert (cols[-1] + 1) * sx - 120 == pytest.approx(90.0, abs=1.5)
        assert not region[round(210 / sy)].any()  # the table's air pocket is not lung
    lung_and_margin = 2 * np.pi * 45 * 55  # two 45 × 55 mm ellipses (lungs grown by 10 mm)
    for area in areas.values():
        assert area == pytest.approx(lung_and_margin, rel=0.06)
    assert areas[(1.0, 1.0)] == pytest.approx(areas[(0.5, 0.5)], rel=0.03)
    assert areas[(0.5, 1.0)] == pytest.approx(areas[(0.5, 0.5)], rel=0.03)


def test_region_is_empty_without_enclosed_air_and_drops_small_holes() -> None:
    spacing = (1.0, 1.0)
    assert not lung_region(np.full((64, 64), -1000.0), spacing).any()  # all air
    assert not lung_region(np.full((64, 64), 40.0), spacing).any()  # all tissue
    hu = np.full((80, 80), -1000.0)
    hu[10:70, 10:70] = 40.0
    hu[30:38, 30:38] = -900.0  # 64 mm² of enclosed air: below 100 mm²
    assert not lung_region(hu, spacing).any()
    assert lung_region(hu, (1.5, 1.5)).any()  # the same pixels at 1.5 mm are 144 mm²


def test_region_is_fast_enough_on_a_512_slice() -> None:
    import time

    hu = _chest((0.47, 0.47))
    assert hu.shape == (511, 511)
    lung_region(hu, (0.47, 0.47))
    t0 = time.perf_counter()
    for _ in range(5):
        lung_region(hu, (0.47, 0.47))
    assert (time.perf_counter() - t0) / 5 < 0.1  # about 5 ms here; loose for a busy test machine


# restrict_to_lungs -------------------------------------------------------------------------

def _roi(box: tuple[float, float, float, float], label: int = 1) -> RoI:
    return RoI(box, label, 0.9, np.zeros((28, 28), np.float16))


def test_restrict_keeps_inside_and_mostly_inside_lesions_and_drops_the_rest() -> None:
    region = np.zeros((100, 100), bool)
    region[20:80, 20:60] = True
    labels = np.zeros((100, 100), np.uint8)
    labels[30:40, 30:40] = 1  # inside
    labels[50:70, 50:70] = 2  # big peripheral lesion: half of it inside
    labels[2:10, 85:95] = 1  # outside the body
    labels[85:95, 40:50] = 2  # 0 % inside
    labels[75:95, 25:35] = 1  # a quarter inside: below 30 %
    rois = [_roi((30, 30, 40, 40)), _roi((85, 2, 95, 10)), _roi((55, 75, 70, 90), 2)]
    kept, kept_rois, removed = restrict_to_lungs(labels, rois, region)
    assert kept.dtype == labels.dtype and labels[2:10, 85:95].all()  # the input is not changed
    assert (kept[30:40, 30:40] == 1).all() and (kept[50:70, 50:70] == 2).all()
    assert not kept[2:10, 85:95].any() and not kept[85:95, 40:50].any() and not kept[75:95, 25:35].any()
    assert removed == 80 + 100 + 200
    assert kept_rois == [rois[0], rois[2]]  # the box in the corner holds no region pixel


def test_restrict_counts_components_per_label_value() -> None:
    region = np.zeros((40, 40), bool)
    region[:, :20] = True
    labels = np.zeros((40, 40), np.uint8)
    labels[10:20, 5:20] = 1  # GGO inside ...
    labels[10:20, 20:35] = 2  # ... touching a consolidation that lies outside: judged on its own
    kept, _, removed = restrict_to_lungs(labels, [], region)
    assert (kept[10:20, 5:20] == 1).all() and not kept[:, 20:].any() and removed == 150


# the spec field ----------------------------------------------------------------------------

def test_spec_round_trips_restrict_to_lungs_and_old_specs_read_false() -> None:
    spec = make_tiny_spec()
    assert spec.restrict_to_lungs is False
    spec.restrict_to_lungs = True
    data = spec.to_json()
    assert data["restrict_to_lungs"] is True
    assert ModelSpec.from_json(data).restrict_to_lungs is True
    del data["restrict_to_lungs"]
    assert ModelSpec.from_json(data).restrict_to_lungs is False
    with pytest.raises(ModelError, match="restrict_to_lungs"):
        ModelSpec.from_json({**data, "restrict_to_lungs": "yes"})


# through inference -------------------------------------------------------------------------

BLOB, PITCH = 4, 8  # the fake model's lesions: 4 × 4 px squares every 8 px, all over the slice


class _MarksEverywhere(torch.nn.Module):
    """Stands in for a detector that marks GGO blobs all over every slice and boxes a corner and the whole slice."""

    def forward(self, images):
        outs = []
        for img in images:
            h, w = img.shape[-2:]
            y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
            semantic = torch.zeros((3, h, w))
            semantic[1] = 5.0 * ((y % PITCH < BLOB) & (x % PITCH < BLOB))
            boxes = torch.tensor([[0.0, 0.0, 8.0, 8.0], [0.0, 0.0, float(w), float(h)]])
            outs.append({"boxes": boxes, "labels": torch.ones(2, dtype=torch.int64), "scores": torch.ones(2),
                         "mask_logits": torch.zeros((2, 28, 28)), "semantic_logits": semantic})
        return outs


def _blobs(shape: tuple[int, int]) -> np.ndarray:
    y, x = np.mgrid[0:shape[0], 0:shape[1]]
    return (y % PITCH < BLOB) & (x % PITCH < BLOB)


def test_inference_drops_lesion_outside_the_lungs_of_hu_volumes(phantom) -> None:
    from scipy import ndimage

    volume, _, meta = phantom
    spec = make_tiny_spec()
    model = _MarksEverywhere()
    pred = run_to_completion(run_inference(model, spec, volume, device="cpu", restrict_to_lungs=True))
    spacing = volume.spacing[1:]
    blobs = _blobs(volume.shape[1:])
    for z, result in pred.slices.items():
        region = lung_region(volume.array[z], spacing)
        labels = pred.labels.array[z]
        # a kept blob may straddle the region's edge, but no lesion pixel lies farther out than a blob
        beyond = ndimage.distance_transform_edt(~region) > BLOB * np.sqrt(2)
        assert not labels[beyond].any() and beyond[blobs].any()
        lung = ndimage.binary_erosion(meta["lung_mask"][z], iterations=BLOB)
        assert labels[lung & blobs].mean() >= 0.95  # blobs in the lungs stay
        assert result.area_mm2[1] == pytest.approx((labels == 1).sum() * spacing[0] * spacing[1])  # after the filter
        assert [r.box for r in result.rois] == [(0.0, 0.0, float(volume.shape[2]), float(volume.shape[1]))]
    voxel_ml = float(np.prod(volume.spacing)) / 1000
    assert pred.volumes_ml()[1] == pytest.approx((pred.labels.array == 1).sum() * voxel_ml)
    assert sum("restrict to lungs: removed" in w for w in pred.notes) == 1
    # the spec's value is the default, and an explicit False overrides it
    spec.restrict_to_lungs = True
    by_spec = run_to_completion(run_inference(model, spec, volume, device="cpu"))
    assert np.array_equal(by_spec.labels.array, pred.labels.array)
    off = run_to_completion(run_inference(model, spec, volume, device="cpu", restrict_to_lungs=False))
    assert np.array_equal(off.labels.array[0] > 0, blobs) and not off.notes
    assert pred.restricted_to_lungs and by_spec.restricted_to_lungs and not off.restricted_to_lungs
    assert (off.labels.array > 0).sum() > (pred.labels.array > 0).sum()


def test_inference_leaves_8bit_images_alone() -> None:
    rng = np.random.default_rng(0)
    grey = np.zeros((2, 64, 64), np.int16)
    grey[:, 8:56, 8:56] = 180  # a bright 'body' with a dark enclosed 'lung'
    grey[:, 20:44, 16:48] = rng.integers(0, 30, (2, 24, 32))
    volume = CTVolume(grey, Geometry((1.0, 0.7, 0.7)), modality="OT", is_hu=False)
    spec = make_tiny_spec()
    spec.restrict_to_lungs = True
    pred = run_to_completion(run_inference(_MarksEverywhere(), spec, volume, device="cpu", restrict_to_lungs=True))
    assert np.array_equal(pred.labels.array[1] > 0, _blobs((64, 64))) and not pred.notes
    assert not pred.restricted_to_lungs  # asked for, but 8-bit images are never filtered
    assert all(len(s.rois) == 2 for s in pred.slices.values())
