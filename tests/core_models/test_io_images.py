"""PNG/JPG slices and folders of them (small synthetic images)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core_models.errors import InputError
from core_models.io import list_series, read_volume


def _grey(value: int, size: tuple[int, int] = (6, 4)) -> np.ndarray:
    """A (rows, cols) uint8 ramp whose first pixel is ``value``."""
    arr = (np.arange(size[0] * size[1]).reshape(size) % 200).astype(np.uint8)
    arr[0, 0] = value
    return arr


def _save(path, array: np.ndarray) -> None:
    Image.fromarray(array).save(path)


def test_single_png_is_one_non_hu_slice(tmp_path):
    arr = _grey(255)
    _save(tmp_path / "a.png", arr)
    vol = read_volume(tmp_path / "a.png")
    assert vol.shape == (1, 6, 4) and vol.array.dtype == np.int16
    assert not vol.is_hu and vol.modality == "OT"
    np.testing.assert_array_equal(vol.array[0], arr)
    assert vol.meta["slice_files"] == ["a.png"]


def test_folder_stacks_in_natural_order(tmp_path):
    for i in (10, 2, 1):
        _save(tmp_path / f"{i}.png", _grey(i))
    vol = read_volume(tmp_path)
    assert vol.meta["slice_files"] == ["1.png", "2.png", "10.png"]
    assert [int(v) for v in vol.array[:, 0, 0]] == [1, 2, 10]
    assert "slices" not in vol.meta
    assert list_series(tmp_path)[0].n_slices == 3


def test_seed_named_folder_orders_by_patient_scan_slice(tmp_path):
    names = {"2_7_1_10.png": 3, "2_7_1_2.png": 2, "2_5_2_1.png": 1, "2_5_1_9.png": 0}
    for name, order in names.items():
        _save(tmp_path / name, _grey(order))
    vol = read_volume(tmp_path)
    assert [int(v) for v in vol.array[:, 0, 0]] == [0, 1, 2, 3]
    assert vol.meta["slice_files"] == ["2_5_1_9.png", "2_5_2_1.png", "2_7_1_2.png", "2_7_1_10.png"]
    slices = vol.meta["slices"]
    assert [s["patient"] for s in slices] == ["5", "5", "7", "7"]
    assert all(s["class_name"] == "COVID-19" for s in slices)
    assert "seed naming" in vol.source


def test_rgb_with_equal_channels_is_grey(tmp_path):
    arr = _grey(77)
    _save(tmp_path / "rgb.png", np.stack([arr] * 3, axis=-1))
    _save(tmp_path / "rgba.png", np.dstack([arr, arr, arr, np.full_like(arr, 255)]))
    for name in ("rgb.png", "rgba.png"):
        np.testing.assert_array_equal(read_volume(tmp_path / name).array[0], arr)


def test_true_colour_is_refused(tmp_path):
    arr = np.zeros((6, 4, 3), np.uint8)
    arr[..., 0] = 200
    _save(tmp_path / "red.png", arr)
    with pytest.raises(InputError, match="colour"):
        read_volume(tmp_path / "red.png")


def test_grey_jpeg_saved_as_rgb_is_accepted(tmp_path):
    arr = np.tile(np.linspace(0, 250, 32, dtype=np.uint8), (32, 1))
    Image.fromarray(np.stack([arr] * 3, axis=-1)).save(tmp_path / "g.jpg", quality=90)
    vol = read_volume(tmp_path / "g.jpg")
    assert vol.shape == (1, 32, 32)
    assert np.abs(vol.array[0].astype(int) - arr).max() < 12  # lossy, but grey


def test_palette_png_reads_its_grey_levels(tmp_path):
    arr = _grey(90)
    reversed_grey = [v for i in range(256) for v in (255 - i,) * 3]  # index i shows grey 255-i
    img = Image.frombytes("P", (arr.shape[1], arr.shape[0]), (255 - arr).tobytes())
    img.putpalette(reversed_grey)
    img.save(tmp_path / "p.png")
    vol = read_volume(tmp_path / "p.png")
    np.testing.assert_array_equal(vol.array[0], arr)


def test_sixteen_bit_png_keeps_its_values(tmp_path):
    arr = (np.arange(24, dtype=np.uint16).reshape(6, 4) * 1000)
    Image.fromarray(arr).save(tmp_path / "deep.png")
    vol = read_volume(tmp_path / "deep.png")
    assert not vol.is_hu
    np.testing.assert_array_equal(vol.array[0], np.minimum(arr, 32767))


def test_mixed_sizes_name_the_odd_slice(tmp_path):
    for i in range(4):
        _save(tmp_path / f"{i}.png", _grey(i))
    _save(tmp_path / "2.png", _grey(2, size=(8, 8)))
    with pytest.raises(InputError) as info:
        read_volume(tmp_path)
    assert "2.png" in str(info.value) and "8x8" in str(info.value)


def test_text_file_named_png_is_refused(tmp_path):
    (tmp_path / "fake.png").write_text("not an image at all")
    with pytest.raises(InputError, match="not a readable PNG/JPG"):
        read_volume(tmp_path / "fake.png")


def test_truncated_png_is_refused(tmp_path):
    _save(tmp_path / "full.png", np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8))
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cut.png"):
        read_volume(tmp_path / "cut.png")


def test_folder_without_images_says_so(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "sub").mkdir()
    with pytest.raises(InputError) as info:
        read_volume(tmp_path)
    message = str(info.value)
    assert "no DICOM series or PNG/JPG slices" in message and "sub" in message


def test_folder_with_a_volume_file_points_to_it(tmp_path):
    (tmp_path / "ct.nii.gz").write_bytes(b"x")
    with pytest.raises(InputError, match="ct.nii.gz"):
        read_volume(tmp_path)


def test_series_argument_on_images(tmp_path):
    _save(tmp_path / "a.png", _grey(1))
    assert read_volume(tmp_path, series=0).shape == (1, 6, 4)
    with pytest.raises(InputError):
        read_volume(tmp_path, series=3)
