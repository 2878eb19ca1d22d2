from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from core_models.volume import CTVolume, Geometry, LabelMap


def _oblique_geometry() -> Geometry:
    # a rotation about z by 30 degrees: columns are the index axes' directions
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    direction = (c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0)
    return Geometry(spacing=(2.5, 0.7, 0.6), origin=(-100.0, 50.0, 12.5), direction=direction)


def test_sitk_round_trip_keeps_geometry_and_axis_order():
    arr = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4)
    vol = CTVolume(arr, _oblique_geometry())
    img = vol.to_sitk()
    assert img.GetSize() == (4, 3, 2)  # SimpleITK is (x, y, z)
    assert img.GetSpacing() == pytest.approx((0.6, 0.7, 2.5))
    back = Geometry.from_sitk(img)
    assert back == vol.geometry
    np.testing.assert_array_equal(sitk.GetArrayFromImage(img), arr)


def test_index_to_physical_matches_simpleitk():
    vol = CTVolume(np.zeros((3, 5, 7), np.int16), _oblique_geometry())
    img = vol.to_sitk()
    for z, y, x in [(0, 0, 0), (2, 4, 6), (1, 3, 2)]:
        expected = img.TransformIndexToPhysicalPoint((x, y, z))
        np.testing.assert_allclose(vol.geometry.index_to_physical(z, y, x), expected, atol=1e-9)


def test_2d_image_lifts_to_one_slice():
    img2d = sitk.GetImageFromArray(np.zeros((5, 6), np.int16))
    img2d.SetSpacing((0.5, 0.8))
    geo = Geometry.from_sitk(img2d)
    assert geo.spacing == (1.0, 0.8, 0.5)


@pytest.mark.parametrize(
    "direction,code",
    [((1, 0, 0, 0, 1, 0, 0, 0, 1), "LPS"), ((-1, 0, 0, 0, -1, 0, 0, 0, 1), "RAS"), ((1, 0, 0, 0, 0, 1, 0, -1, 0), "LIP")],
)
def test_orientation_code(direction, code):
    assert Geometry(direction=tuple(float(v) for v in direction)).orientation_code() == code


def test_geometry_rejects_bad_spacing():
    with pytest.raises(ValueError):
        Geometry(spacing=(1.0, 0.0, 1.0))


def test_volume_contract_types():
    with pytest.raises(ValueError):
        CTVolume(np.zeros((4, 4), np.int16))
    with pytest.raises(ValueError):
        CTVolume(np.zeros((1, 4, 4), np.float32))
    with pytest.raises(ValueError):
        LabelMap(np.zeros((1, 4, 4), np.int16))


def test_label_volumes_in_ml():
    geo = Geometry(spacing=(2.0, 0.5, 0.5))  # 0.5 mm3 per voxel
    arr = np.zeros((2, 10, 10), np.uint8)
    arr[0, :4, :5] = 1  # 20 voxels -> 10 mm3 = 0.01 mL
    arr[1, :2, :2] = 2  # 4 voxels -> 2 mm3
    vols = LabelMap(arr, geo).volumes_ml()
    assert vols == pytest.approx({1: 0.01, 2: 0.002})


@pytest.mark.parametrize("top", [0, 2, 12])
def test_label_volumes_match_a_full_count(top):
    rng = np.random.default_rng(top)
    arr = np.zeros((6, 20, 30), np.uint8)
    arr[[1, 4]] = rng.integers(0, top + 1, size=(2, 20, 30))  # labels on two slices only
    if top:
        arr[arr == 1] = 0  # a value that is absent is not listed
    counts = np.bincount(arr.ravel(), minlength=top + 1)
    expected = {v: counts[v] * 0.25 / 1000 for v in range(1, top + 1) if counts[v]}
    vols = LabelMap(arr, Geometry(spacing=(1.0, 0.5, 0.5))).volumes_ml()
    assert set(vols) == set(expected) and vols == pytest.approx(expected)


def test_empty_labels_share_geometry():
    vol = CTVolume(np.zeros((2, 3, 4), np.int16), _oblique_geometry(), source="x")
    labels = vol.empty_labels()
    assert labels.geometry is vol.geometry
    assert labels.shape == vol.shape and labels.array.dtype == np.uint8 and not labels.array.any()
