"""DICOM series written here with SimpleITK: several series in a folder, uneven slices, damaged files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from core_models.errors import InputError
from core_models.io import list_series, read_volume


def write_series(folder: Path, uid: str, z_mm: list[float], value: int, description: str = "") -> None:
    """One DICOM file per slice at the given z positions; slice i holds ``value + i``."""
    for i, z in enumerate(z_mm):
        img = sitk.GetImageFromArray(np.full((1, 8, 10), value + i, np.int16))
        img.SetSpacing((0.7, 0.6, 1.0))
        img.SetOrigin((-5.0, 3.0, float(z)))
        tags = {"0020|000e": uid, "0020|000d": "1.2.3.9", "0008|103e": description, "0008|0060": "CT",
                "0020|0013": str(i + 1), "0008|0021": "20200101"}
        for key, val in tags.items():
            img.SetMetaData(key, val)
        writer = sitk.ImageFileWriter()
        writer.KeepOriginalImageUIDOn()
        writer.SetFileName(str(folder / f"{uid.rsplit('.', 1)[-1]}_{i:03d}.dcm"))
        writer.Execute(img)


@pytest.fixture()
def two_series(tmp_path: Path) -> Path:
    write_series(tmp_path, "1.2.3.4.11", [0.0, 2.0, 4.0, 6.0], 0, "big")
    write_series(tmp_path, "1.2.3.4.22", [0.0, 3.0], 100, "small")
    return tmp_path


def test_largest_series_is_read_and_all_are_listed(two_series):
    found = list_series(two_series)
    assert [(s.uid, s.n_slices, s.description) for s in found] == [("1.2.3.4.11", 4, "big"),
                                                                   ("1.2.3.4.22", 2, "small")]
    vol = read_volume(two_series)
    assert vol.shape == (4, 8, 10)
    assert [int(v) for v in vol.array[:, 0, 0]] == [0, 1, 2, 3]
    assert vol.spacing == pytest.approx((2.0, 0.6, 0.7))
    assert vol.origin == pytest.approx((-5.0, 3.0, 0.0))
    assert vol.is_hu and vol.modality == "CT" and vol.meta["warnings"] == []
    assert [(s["uid"], s["chosen"]) for s in vol.meta["series"]] == [("1.2.3.4.11", True), ("1.2.3.4.22", False)]
    assert "1.2.3.4.11" in vol.source and "4 slices" in vol.source


@pytest.mark.parametrize("series", [1, "1", "1.2.3.4.22"])
def test_series_by_index_or_uid(two_series, series):
    vol = read_volume(two_series, series=series)
    assert vol.shape == (2, 8, 10) and int(vol.array[0, 0, 0]) == 100
    assert vol.spacing[0] == pytest.approx(3.0)
    assert vol.meta["series_uid"] == "1.2.3.4.22"


def test_unknown_series_lists_what_is_there(two_series):
    with pytest.raises(InputError) as info:
        read_volume(two_series, series="9.9")
    message = str(info.value)
    assert "matches no series" in message and "1.2.3.4.11" in message and "1.2.3.4.22" in message


def test_slices_are_ordered_by_position_not_name(tmp_path):
    write_series(tmp_path, "1.2.3.4.33", [9.0, 6.0, 3.0, 0.0], 10)  # file 000 is the highest slice
    vol = read_volume(tmp_path)
    assert [int(v) for v in vol.array[:, 0, 0]] == [13, 12, 11, 10]
    assert vol.origin[2] == pytest.approx(0.0)


def test_missing_slice_gives_a_warning(tmp_path):
    write_series(tmp_path, "1.2.3.4.44", [0.0, 2.0, 4.0, 6.0, 10.0], 0)
    vol = read_volume(tmp_path)
    assert vol.shape[0] == 5
    assert any("unevenly spaced" in w for w in vol.meta["warnings"])


def test_single_dicom_file(two_series):
    path = sorted(two_series.glob("22_*.dcm"))[1]
    vol = read_volume(path)
    assert vol.shape == (1, 8, 10) and int(vol.array.max()) == 101
    assert vol.meta["plane"] == "axial" and vol.meta["series_uid"] == "1.2.3.4.22"
    assert list_series(path)[0].uid == "1.2.3.4.22"


def test_truncated_dicom_file_is_one_line(two_series, tmp_path):
    data = sorted(two_series.glob("11_*.dcm"))[0].read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: len(data) - 60])
    with pytest.raises(InputError) as info:
        read_volume(cut)
    assert "cut.dcm" in str(info.value) and "\n" not in str(info.value)
