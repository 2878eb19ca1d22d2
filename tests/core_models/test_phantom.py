"""The synthetic chest CT phantom: determinism, geometry, tissue intensities, lesion classes, writing."""
from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image
from scipy import ndimage

from core_models.errors import InputError, ResourceError
from core_models.labels import CONSOLIDATION, GGO, from_seed
from core_models.phantom import CLASS_IDS, PhantomConfig, generate_case, lung_window_u8, png_name, write_phantoms

SEED = 11


def small(kind: str, **extra: object) -> PhantomConfig:
    return PhantomConfig(size=128, slices=8, kind=kind, **extra)


@pytest.fixture(scope="module")
def covid_cases() -> list[tuple]:
    return [generate_case(i, SEED, small("covid")) for i in range(3)]


@pytest.fixture(scope="module")
def cap_cases() -> list[tuple]:
    return [generate_case(i, SEED, small("cap")) for i in range(5)]


@pytest.fixture(scope="module")
def normal_case() -> tuple:
    return generate_case(0, SEED, small("normal"))


def halves(labels: np.ndarray, value: int | None = None) -> tuple[int, int]:
    """Lesion voxels in the patient's right (image left) and left half."""
    hit = labels > 0 if value is None else labels == value
    mid = labels.shape[2] // 2
    return int(hit[:, :, :mid].sum()), int(hit[:, :, mid:].sum())


# determinism and geometry ------------------------------------------------------------------

def test_same_seed_gives_identical_arrays(covid_cases: list[tuple]) -> None:
    volume, labels, meta = generate_case(0, SEED, small("covid"))
    ref_volume, ref_labels, ref_meta = covid_cases[0]
    assert np.array_equal(volume.array, ref_volume.array)
    assert np.array_equal(labels.array, ref_labels.array)
    assert np.array_equal(meta["lung_mask"], ref_meta["lung_mask"])
    assert volume.geometry == ref_volume.geometry


def test_other_seed_or_index_gives_another_patient(covid_cases: list[tuple]) -> None:
    other_seed, _, other_meta = generate_case(0, SEED + 1, small("covid"))
    assert not np.array_equal(other_seed.array, covid_cases[0][0].array)
    assert not np.array_equal(covid_cases[0][2]["lung_mask"], covid_cases[1][2]["lung_mask"])
    assert not np.array_equal(covid_cases[0][1].array, covid_cases[1][1].array)


def test_geometry_follows_the_config() -> None:
    volume, labels, meta = generate_case(2, 5, PhantomConfig(size=96, slices=6, kind="normal", z_spacing_mm=2.0,
                                                           fov_mm=300.0))
    assert volume.shape == labels.shape == (6, 96, 96)
    assert volume.array.dtype == np.int16 and labels.array.dtype == np.uint8
    dx = 300.0 / 96
    assert volume.spacing == pytest.approx((2.0, dx, dx))
    assert volume.direction == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    centre = volume.geometry.index_to_physical(2.5, 47.5, 47.5)
    assert centre == pytest.approx([0.0, 0.0, 0.0], abs=1e-6)
    assert labels.geometry == volume.geometry
    assert meta["lung_mask"].shape == volume.shape and meta["lung_mask"].dtype == bool


def test_default_slice_spacing_is_drawn_from_the_usual_range() -> None:
    spacings = {generate_case(i, 2, PhantomConfig(size=64, slices=2, kind="normal", vessels=False))[0].spacing[0]
                for i in range(6)}
    assert spacings <= {1.25, 1.5, 2.0, 2.5}
    assert len(spacings) > 1


# tissue intensities ----------------------------------------------------------------------------

def test_lung_air_and_bone_intensities(normal_case: tuple) -> None:
    volume, _, meta = normal_case
    hu = volume.array
    assert -900 < np.median(hu[meta["lung_mask"]]) < -800
    corner = hu[:, :6, :6]
    assert abs(float(corner.mean()) + 1000.0) < 5.0
    assert 8.0 < float(corner.std()) < 25.0, "scanner noise of about 15 HU"
    assert hu.max() > 400, "bone (spine, ribs) is bright"
    assert -1024 <= hu.min()


def test_lesion_intensities(covid_cases: list[tuple], cap_cases: list[tuple]) -> None:
    for volume, labels, _ in covid_cases + cap_cases:
        hu, lab = volume.array, labels.array
        if (lab == GGO).any():
            assert -750 < hu[lab == GGO].mean() < -250
        if (lab == CONSOLIDATION).any():
            assert -150 < np.median(hu[lab == CONSOLIDATION]) < 100


def test_lesions_lie_inside_the_lungs(covid_cases: list[tuple], cap_cases: list[tuple]) -> None:
    for _, labels, meta in covid_cases + cap_cases:
        lesion = labels.array > 0
        assert lesion.any()
        assert not (lesion & ~meta["lung_mask"]).any()
        assert set(np.unique(labels.array)) <= {0, GGO, CONSOLIDATION}


def test_labels_mark_where_the_lesions_change_the_image() -> None:
    """Same patient and scanner noise with and without lesions: the difference is the lesions."""
    sick, labels, meta = generate_case(1, SEED, small("covid"))
    healthy, _, _ = generate_case(1, SEED, small("normal"))
    diff = sick.array.astype(np.int32) - healthy.array.astype(np.int32)
    lab = labels.array > 0
    assert np.median(diff[lab]) > 150
    assert np.percentile(np.abs(diff[~lab]), 99) < np.median(diff[lab])
    near_lung = ndimage.binary_dilation(meta["lung_mask"], structure=np.ones((1, 5, 5), bool))
    assert not diff[~near_lung].any(), "lesions change nothing outside the lungs (beyond the 2-px blur)"


# case classes --------------------------------------------------------------------------------------

def test_normal_cases_have_no_lesions(normal_case: tuple) -> None:
    _, labels, meta = normal_case
    assert not labels.array.any()
    assert meta["lesion_count"] == 0 and meta["ggo_ml"] == 0 and meta["consolidation_ml"] == 0
    assert meta["class_id"] == 0 and meta["class_name"] == "Control"


def test_cap_is_mostly_consolidation_and_mostly_one_sided(cap_cases: list[tuple]) -> None:
    one_sided = 0
    for _, labels, meta in cap_cases:
        lab = labels.array
        assert (lab == CONSOLIDATION).sum() > (lab == GGO).sum()
        right, left = halves(lab)
        one_sided += max(right, left) >= 0.9 * (right + left)
        assert meta["class_id"] == CLASS_IDS["cap"] == 1
    assert one_sided >= len(cap_cases) - 1


def test_covid_has_bilateral_ground_glass(covid_cases: list[tuple]) -> None:
    for _, labels, meta in covid_cases:
        right, left = halves(labels.array, GGO)
        assert right > 0 and left > 0
        assert (labels.array == GGO).sum() > (labels.array == CONSOLIDATION).sum()
        assert meta["class_id"] == 2 and meta["lesion_count"] >= 2


def test_meta_volumes_agree_with_the_labels(covid_cases: list[tuple]) -> None:
    _, labels, meta = covid_cases[0]
    volumes = labels.volumes_ml()
    assert meta["ggo_ml"] == pytest.approx(volumes.get(GGO, 0.0), abs=1e-2)
    assert meta["consolidation_ml"] == pytest.approx(volumes.get(CONSOLIDATION, 0.0), abs=1e-2)
    assert meta["lung_voxels"] == int(meta["lung_mask"].sum())
    assert sum(item["volume_ml"] for item in meta["lesions"]) >= meta["ggo_ml"] * 0.5


def test_mixed_cycles_through_the_classes() -> None:
    config = PhantomConfig(kind="mixed")
    assert [config.kind_for_case(i) for i in range(4)] == ["covid", "cap", "normal", "covid"]


# settings ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [{"size": 10}, {"size": 128.5}, {"slices": 0}, {"kind": "flu"},
                                 {"z_spacing_mm": 0.0}, {"noise_hu": -1.0}])
def test_bad_settings_are_input_errors(bad: dict) -> None:
    with pytest.raises(InputError) as info:
        PhantomConfig(**bad)
    assert "\n" not in str(info.value)


def test_oversized_grid_is_a_resource_error() -> None:
    with pytest.raises(ResourceError):
        PhantomConfig(size=2048, slices=2048)


@pytest.mark.parametrize(("index", "seed"), [(-1, 0), (0, -5), (True, 0)])
def test_bad_case_index_or_seed(index: int, seed: int) -> None:
    with pytest.raises(InputError):
        generate_case(index, seed, small("normal"))


def test_lung_window_maps_w1500_l600_to_8_bit() -> None:
    out = lung_window_u8(np.array([-2000, -1350, -600, 150, 3000]))
    assert out.dtype == np.uint8
    assert out.tolist() == [0, 0, 128, 255, 255]


# writing ---------------------------------------------------------------------------------------------------

def test_write_phantoms_files_read_back(tmp_path) -> None:
    calls = []
    config = PhantomConfig(size=64, slices=3, kind="mixed", z_spacing_mm=2.5)
    manifest = write_phantoms(tmp_path, 2, 4, config, png=True, progress=lambda *a: calls.append(a))
    assert [c[:2] for c in calls] == [(1, 2), (2, 2)]
    volume, labels, meta = generate_case(1, 4, config)
    image = sitk.ReadImage(str(tmp_path / "case_001.nii.gz"))
    assert np.array_equal(sitk.GetArrayFromImage(image), volume.array)
    assert image.GetSpacing() == pytest.approx((360 / 64, 360 / 64, 2.5))
    read_labels = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "case_001_labels.nii.gz")))
    assert np.array_equal(read_labels, labels.array)
    seed_labels = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "case_001_seed_labels.nii.gz")))
    assert np.array_equal(seed_labels == 1, meta["lung_mask"] & (labels.array == 0))
    saved = json.loads((tmp_path / "cases.json").read_text())
    assert saved == manifest and [c["kind"] for c in saved["cases"]] == ["covid", "cap"]
    mask = np.asarray(Image.open(tmp_path / "png" / "masks" / png_name(1, 1, 0, 2)))
    assert np.array_equal(from_seed(mask), labels.array[2])
    grey = np.asarray(Image.open(tmp_path / "png" / "imgs" / png_name(1, 1, 0, 2)))
    assert np.array_equal(grey, lung_window_u8(volume.array[2]))


def test_same_seed_writes_the_same_bytes(tmp_path) -> None:
    config = PhantomConfig(size=64, slices=2, kind="covid")
    for name in ("a", "b"):
        write_phantoms(tmp_path / name, 1, 9, config, png=True)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 1 + 3 + 2 * 2
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_output_path_that_is_a_file_is_refused(tmp_path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        write_phantoms(blocker, 1, 0, small("normal"))
    with pytest.raises(InputError, match="cannot create"):
        write_phantoms(blocker / "sub", 1, 0, small("normal"))
    with pytest.raises(InputError):
        write_phantoms(tmp_path / "ok", 0, 0, small("normal"))
    assert not (tmp_path / "ok").exists(), "nothing is created for a bad request"
