"""NIfTI / NRRD / MHA volumes: round trips, pixel types, refusals (small synthetic files)."""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from core_models.errors import InputError, ResourceError
from core_models.io import list_series, read_volume, write_volume
from core_models.volume import CTVolume, Geometry

SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".mha")


def _sagittal_geometry() -> Geometry:
    # rows run along -z, columns along +y, slices along -x: a sagittal reformat, slightly tilted
    t = 0.0106
    c = np.sqrt(1 - t * t)
    direction = (-t, 0.0, -c, c, 0.0, -t, 0.0, -1.0, 0.0)
    return Geometry(spacing=(1.5, 0.8, 0.7), origin=(15.9, -344.6, -6.3), direction=direction)


def _volume(geometry: Geometry | None = None) -> CTVolume:
    rng = np.random.default_rng(0)
    array = rng.integers(-1024, 3000, size=(5, 6, 7), dtype=np.int16)
    array[0, 0, 0] = -3024
    return CTVolume(array, geometry or _sagittal_geometry(), source="synthetic")


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_write_read_round_trip_keeps_values_and_geometry(tmp_path, suffix):
    vol = _volume()
    path = write_volume(vol, tmp_path / f"ct{suffix}")
    back = read_volume(path)
    np.testing.assert_array_equal(back.array, vol.array)
    assert back.array.dtype == np.int16 and back.is_hu and back.modality == "CT"
    np.testing.assert_allclose(back.spacing, vol.spacing, atol=1e-4)
    np.testing.assert_allclose(back.origin, vol.origin, atol=1e-4)
    np.testing.assert_allclose(back.direction, vol.direction, atol=1e-4)
    assert back.meta["warnings"] == []
    assert str(path) in back.source
    assert [p.name for p in tmp_path.iterdir()] == [f"ct{suffix}"]  # no temporary file left behind


def test_write_volume_refuses_unknown_suffix(tmp_path):
    with pytest.raises(InputError, match=r"\.nii"):
        write_volume(_volume(), tmp_path / "ct.tif")
    assert not list(tmp_path.iterdir())


def test_write_volume_nrrd_can_compress(tmp_path):
    vol = CTVolume(np.zeros((8, 32, 32), np.int16))
    plain = write_volume(vol, tmp_path / "plain.nrrd")
    packed = write_volume(vol, tmp_path / "packed.nrrd", compress=True)
    assert packed.stat().st_size < plain.stat().st_size
    np.testing.assert_array_equal(read_volume(packed).array, vol.array)


def test_uint8_volume_is_not_hu(tmp_path):
    img = sitk.GetImageFromArray(np.arange(60, dtype=np.uint8).reshape(3, 4, 5))
    sitk.WriteImage(img, str(tmp_path / "grey.nrrd"))
    vol = read_volume(tmp_path / "grey.nrrd")
    assert not vol.is_hu and vol.modality == "OT"
    assert vol.array.dtype == np.int16 and vol.array.max() == 59


def test_non_hu_volume_round_trips_as_non_hu(tmp_path):
    vol = CTVolume(np.arange(60, dtype=np.int16).reshape(3, 4, 5), is_hu=False, modality="OT")
    back = read_volume(write_volume(vol, tmp_path / "grey.nii.gz"))
    assert not back.is_hu
    np.testing.assert_array_equal(back.array, vol.array)


@pytest.mark.parametrize(("name", "dtype"), [("f.nii", np.float32), ("f.nii.gz", np.float64), ("f.nrrd", np.float32)])
def test_float_volume_is_rounded_and_nan_replaced(tmp_path, name, dtype):
    # ITK 5 reads NIfTI NaN as 0; the reader must still see them as missing values
    arr = np.full((3, 4, 5), -999.7, dtype=dtype)
    arr[1, 2, 3] = 40.5001
    arr[2, 0, 0] = np.nan
    sitk.WriteImage(sitk.GetImageFromArray(arr), str(tmp_path / name))
    vol = read_volume(tmp_path / name)
    assert vol.array.dtype == np.int16
    assert vol.array[1, 2, 3] == 41 and vol.array[0, 0, 0] == -1000
    assert vol.array[2, 0, 0] == -1000  # NaN -> the minimum finite value, rounded
    assert any("NaN" in w for w in vol.meta["warnings"])


def test_all_nan_volume_is_refused(tmp_path):
    sitk.WriteImage(sitk.GetImageFromArray(np.full((2, 3, 4), np.nan, np.float32)), str(tmp_path / "nan.nii.gz"))
    with pytest.raises(InputError, match="no finite values"):
        read_volume(tmp_path / "nan.nii.gz")


def test_4d_volume_is_refused_but_one_time_point_is_read(tmp_path):
    four = sitk.GetImageFromArray(np.zeros((2, 3, 4, 5), np.int16), isVector=False)
    sitk.WriteImage(four, str(tmp_path / "4d.nii.gz"))
    with pytest.raises(InputError, match="4D"):
        read_volume(tmp_path / "4d.nii.gz")
    one = sitk.GetImageFromArray(np.ones((1, 3, 4, 5), np.int16) * 7, isVector=False)
    sitk.WriteImage(one, str(tmp_path / "one.nii.gz"))
    vol = read_volume(tmp_path / "one.nii.gz")
    assert vol.shape == (3, 4, 5) and int(vol.array.max()) == 7


def test_rgb_volume_is_refused(tmp_path):
    rgb = sitk.GetImageFromArray(np.zeros((2, 3, 4, 3), np.uint8), isVector=True)
    sitk.WriteImage(rgb, str(tmp_path / "rgb.nrrd"))
    with pytest.raises(InputError, match="colour"):
        read_volume(tmp_path / "rgb.nrrd")


def test_2d_nrrd_reads_as_one_slice(tmp_path):
    img = sitk.GetImageFromArray(np.arange(12, dtype=np.int16).reshape(3, 4))
    img.SetSpacing((0.5, 0.8))
    sitk.WriteImage(img, str(tmp_path / "slice.nrrd"))
    vol = read_volume(tmp_path / "slice.nrrd")
    assert vol.shape == (1, 3, 4) and vol.spacing[1:] == pytest.approx((0.8, 0.5))


def test_huge_declared_nrrd_is_a_resource_error(tmp_path):
    (tmp_path / "huge.nrrd").write_bytes(b"NRRD0004\ntype: int16\ndimension: 3\nsizes: 100000 100000 1000\n"
                                        b"endian: little\nencoding: raw\n\n" + b"\0" * 64)
    with pytest.raises(ResourceError, match="memory"):
        read_volume(tmp_path / "huge.nrrd")


def test_garbage_nifti_is_one_line_input_error(tmp_path):
    (tmp_path / "bad.nii.gz").write_bytes(np.random.default_rng(1).bytes(2000))
    with pytest.raises(InputError) as info:
        read_volume(tmp_path / "bad.nii.gz")
    assert "bad.nii.gz" in str(info.value) and "\n" not in str(info.value)


def test_unknown_file_type_is_named(tmp_path):
    (tmp_path / "notes.xyz").write_text("hello")
    with pytest.raises(InputError, match="unsupported file type"):
        read_volume(tmp_path / "notes.xyz")


def test_missing_and_empty_paths(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_volume(tmp_path / "absent.nii")
    (tmp_path / "empty.nii").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        read_volume(tmp_path / "empty.nii")


def test_list_series_of_a_file_is_one_entry(tmp_path):
    path = write_volume(_volume(), tmp_path / "ct.mha")
    found = list_series(path)
    assert len(found) == 1 and found[0].n_slices == 5 and found[0].uid == ""
    vol = read_volume(path)
    assert vol.meta["series"] == [found[0].to_json(chosen=True)]


def test_series_argument_on_a_single_file(tmp_path):
    path = write_volume(_volume(), tmp_path / "ct.nrrd")
    assert read_volume(path, series=0).shape == (5, 6, 7)
    with pytest.raises(InputError, match="series"):
        read_volume(path, series=1)
