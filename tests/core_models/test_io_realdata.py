"""Real chest CT from ../shared/data: DICOM series and files, JPEG/PNG slices and masks."""
from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core_models.errors import InputError
from core_models.io import list_series, read_labels, read_volume, write_labels, write_volume
from core_models.volume import CTVolume, LabelMap

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="session")
def ricord(shared_data: Path) -> CTVolume:
    """The RICORD series (255 JPEG-Lossless slices), read once per session."""
    return read_volume(shared_data / "ricord_covid_chest_ct")


def _assert_same_grid(a, b) -> None:
    assert a.shape == b.shape
    np.testing.assert_allclose(a.geometry.spacing, b.geometry.spacing, atol=1e-4)
    np.testing.assert_allclose(a.geometry.origin, b.geometry.origin, atol=1e-4)
    np.testing.assert_allclose(a.geometry.direction, b.geometry.direction, atol=1e-4)


def test_ricord_shape_spacing_and_hu(ricord):
    assert ricord.shape == (255, 512, 512)
    np.testing.assert_allclose(ricord.spacing, (1.25, 0.703125, 0.703125), atol=1e-3)
    assert ricord.is_hu and ricord.modality == "CT" and ricord.array.dtype == np.int16
    in_fov = ricord.array[ricord.array > -2000]  # outside the scan circle the scanner pads with -3024
    assert -1050 < np.percentile(in_fov, 1) < -950  # air is about -1000 HU
    assert int(ricord.array.min()) <= -1000 and int(ricord.array.max()) > 1000  # bone and beyond
    assert ricord.geometry.orientation_code() == "LPS" and ricord.meta["plane"] == "axial"
    assert [s["chosen"] for s in ricord.meta["series"]] == [True]
    assert ricord.meta["series"][0]["n_slices"] == 255
    assert ricord.source.startswith("DICOM series") and "255 slices" in ricord.source
    assert ricord.meta["warnings"] == []


@pytest.mark.parametrize("suffix", [".nii", ".nrrd"])
def test_ricord_volume_round_trip(ricord, tmp_path, suffix):
    back = read_volume(write_volume(ricord, tmp_path / f"ct{suffix}"))
    _assert_same_grid(back, ricord)
    assert np.array_equal(back.array, ricord.array)


def test_ricord_slab_round_trip_nii_gz(ricord, tmp_path):
    slab = CTVolume(ricord.array[:12].copy(), ricord.geometry)  # same origin: the first slices
    back = read_volume(write_volume(slab, tmp_path / "slab.nii.gz"))
    _assert_same_grid(back, slab)
    assert np.array_equal(back.array, slab.array)


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".seg.nrrd"])
def test_ricord_labels_round_trip(ricord, tmp_path, suffix):
    arr = np.zeros(ricord.shape, np.uint8)
    arr[100:140, 200:260, 150:230] = 1
    arr[120:130, 220:240, 180:200] = 2
    labels = LabelMap(arr, ricord.geometry)
    path = write_labels(labels, tmp_path / f"lab{suffix}")[0]
    back = read_labels(path, reference=ricord)
    _assert_same_grid(back, ricord)
    assert np.array_equal(back.array, arr)


def test_lung_pet_ct_series(shared_data):
    vol = read_volume(shared_data / "lung_pet_ct_dx_chest_ct")
    assert vol.shape == (30, 512, 512)
    assert vol.spacing[0] == pytest.approx(8.0, abs=0.05)
    assert vol.is_hu and int(vol.array.min()) <= -1000


def _sbu_files(shared_data: Path, plane: str) -> list[Path]:
    return sorted((shared_data / "sbu_covid_slices").glob(f"*/{plane}/*.dcm"))


def test_sbu_single_files_know_their_plane(shared_data):
    normals = {}
    for plane in ("axial", "coronal", "sagittal"):
        files = _sbu_files(shared_data, plane)
        assert len(files) == 10
        for path in files:
            vol = read_volume(path)
            assert vol.shape[0] == 1 and vol.is_hu and vol.meta["plane"] == plane
            assert int(vol.array.min()) <= -1000  # HU via RescaleSlope/Intercept
            normals.setdefault(plane, []).append(vol.geometry.direction_matrix()[:, 2])
    axis = {plane: {int(np.argmax(np.abs(n))) for n in found} for plane, found in normals.items()}
    assert axis == {"axial": {2}, "coronal": {1}, "sagittal": {0}}


def test_sbu_axial_folder_holds_two_series(shared_data):
    folder = next((shared_data / "sbu_covid_slices").glob("*/axial"))
    found = list_series(folder)
    assert len(found) == 2 and len({s.uid for s in found}) == 2
    first = read_volume(folder)
    assert [s["chosen"] for s in first.meta["series"]] == [True, False]
    assert first.meta["series_uid"] == found[0].uid
    second = read_volume(folder, series=1)
    assert second.meta["series_uid"] == found[1].uid
    assert [s["chosen"] for s in second.meta["series"]] == [False, True]
    assert read_volume(folder, series=found[1].uid).meta["series_uid"] == found[1].uid


def test_medseg_jpeg_is_non_hu_with_its_mask(shared_data):
    train = shared_data / "medseg_covid_slices" / "train"
    vol = read_volume(train / "images" / "0.jpg")
    with Image.open(train / "images" / "0.jpg") as img:
        assert vol.shape == (1, img.size[1], img.size[0])
    assert not vol.is_hu and vol.modality == "OT" and 0 <= vol.array.min() and vol.array.max() <= 255
    mask = read_labels(train / "masks" / "0.png", reference=vol)
    assert mask.shape == vol.shape and set(np.unique(mask.array)) <= {0, 1, 2}
    assert mask.geometry == vol.geometry


def test_medseg_folder_of_mixed_sizes_is_refused(shared_data):
    with pytest.raises(InputError, match="size"):
        read_volume(shared_data / "medseg_covid_slices" / "train" / "images")


def _same_size_pairs(train: Path) -> list[str]:
    """Stems of MedSeg slices that share the most common image size."""
    sizes = {}
    for path in (train / "images").glob("*.jpg"):
        with Image.open(path) as img:
            sizes[path.stem] = img.size
    common = Counter(sizes.values()).most_common(1)[0][0]
    return sorted(stem for stem, size in sizes.items() if size == common)


def test_medseg_image_and_mask_folders(shared_data, tmp_path):
    train = shared_data / "medseg_covid_slices" / "train"
    stems = _same_size_pairs(train)
    assert len(stems) >= 2
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for stem in stems:
        shutil.copy(train / "images" / f"{stem}.jpg", tmp_path / "images")
        shutil.copy(train / "masks" / f"{stem}.png", tmp_path / "masks")
    vol = read_volume(tmp_path / "images")
    assert vol.shape[0] == len(stems) and not vol.is_hu
    masks = read_labels(tmp_path / "masks", reference=vol)
    assert [Path(n).stem for n in masks.meta["slice_files"]] == [Path(n).stem for n in vol.meta["slice_files"]]
    for z, name in enumerate(masks.meta["slice_files"]):
        assert np.array_equal(masks.array[z], np.asarray(Image.open(train / "masks" / name)))


@pytest.mark.parametrize("convention", ["ours", "seed"])
def test_medseg_masks_round_trip_as_png(shared_data, tmp_path, convention):
    train = shared_data / "medseg_covid_slices" / "train"
    original = read_labels(train / "masks" / "1.png")
    assert original.array.max() > 0
    lung = np.ones(original.shape, bool) if convention == "seed" else None
    written = write_labels(original, tmp_path / "out", convention=convention, lung=lung, slice_names=["1.jpg"])
    assert [p.name for p in written] == ["1.png"]
    with Image.open(written[0]) as img:
        assert img.mode == "L"
        stored = np.asarray(img)
    if convention == "seed":
        assert set(np.unique(stored)) <= {1, 2, 3} and (stored == 1).any()
    back = read_labels(tmp_path / "out", convention=convention)
    assert np.array_equal(back.array, original.array)
