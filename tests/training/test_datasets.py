"""Training data: layout detection, each source, the medseg split, the data hash."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core_models.errors import InputError
from core_models.io import read_labels, write_labels, write_volume
from core_models.model_spec import Preprocessing
from core_models.volume import CTVolume, Geometry, LabelMap
from tests.training.helpers import write_medseg, write_phantom, write_seed_pngs
from training.datasets import (SliceReader, collect_records, data_hash, detect_layout, list_records, medseg_split,
                               read_review)

PREP = Preprocessing(min_size=64, max_size=64)
#: the MedSeg training file numbers (sorted numerically), as in /work/shared/data
MEDSEG_NUMBERS = [0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 16, 17, 19, 20, 23, 24, 25, 26, 27, 28, 29, 30, 31,
                  32, 33, 34, 35, 37, 39, 40, 41, 42, 43, 44, 45, 46, 47, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 67]
BASELINE_VAL = ["0", "5", "14", "20", "27", "32", "39", "44", "50", "55"]


def _ct_pair(folder: Path, name: str = "scan", slices: int = 3) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    hu = rng.integers(-1000, 100, (slices, 40, 50)).astype(np.int16)
    labels = np.zeros(hu.shape, np.uint8)
    labels[1, 10:20, 10:30] = 1
    labels[2, 25:35, 5:15] = 2
    geometry = Geometry((2.0, 0.7, 0.8))
    ct = write_volume(CTVolume(hu, geometry), folder / f"{name}.nii.gz")
    lab = write_labels(LabelMap(labels, geometry), folder / f"{name}_labels.nii.gz")[0]
    return ct, lab, hu, labels


def test_medseg_layout_reads_8bit_images_and_our_labels(tmp_path: Path) -> None:
    folder = write_medseg(tmp_path / "medseg", [0, 2, 10, 1])
    assert detect_layout(folder) == "medseg"
    records = list_records(folder)
    assert [Path(r.image_path).name for r in records] == ["0.jpg", "1.jpg", "2.jpg", "10.jpg"]
    sample = SliceReader(PREP).load(records[2])
    expected = np.asarray(Image.open(folder / "masks" / "2.png"))
    assert np.array_equal(sample.labels, expected) and set(np.unique(sample.labels)) == {0, 1, 2}
    assert not sample.is_hu and sample.image.dtype == np.float32
    assert sample.image.shape == expected.shape
    assert np.allclose(sample.image, sample.raw / 255.0, atol=1e-6)
    assert sample.image[sample.labels == 2].mean() > sample.image[sample.labels == 0].mean() + 0.5


def test_medseg_image_without_mask_is_an_input_error(tmp_path: Path) -> None:
    folder = write_medseg(tmp_path / "m", [0, 1])
    (folder / "masks" / "1.png").unlink()
    with pytest.raises(InputError, match="no mask"):
        list_records(folder)


def test_seed_layout_converts_labels_and_reads_class_from_name(tmp_path: Path) -> None:
    names = ["2_007_0_010.png", "0_003_0_002.png", "1_003_0_001.png"]
    folder = write_seed_pngs(tmp_path / "seed", names)
    assert detect_layout(folder) == "seed"
    records = list_records(folder)
    assert [Path(r.image_path).name for r in records] == ["1_003_0_001.png", "0_003_0_002.png", "2_007_0_010.png"]
    assert [r.class_id for r in records] == [1, 0, 2]
    sample = SliceReader(PREP).load(records[0])
    seed_mask = np.asarray(Image.open(folder / "masks" / "1_003_0_001.png"))
    assert seed_mask.max() == 3 and sample.labels.max() == 2
    assert np.array_equal(sample.labels == 1, seed_mask == 2)  # seed GGO -> our 1, lung -> background
    assert np.array_equal(sample.labels == 2, seed_mask == 3)


def test_phantom_folder_and_its_png_subfolder(tmp_path: Path) -> None:
    folder = write_phantom(tmp_path / "ph", cases=2, slices=3)
    assert detect_layout(folder) == "phantom"
    records = list_records(folder)
    assert len(records) == 6 and {r.class_id for r in records} == {2}
    reader = SliceReader(PREP)
    labels = read_labels(folder / "case_001_labels.nii.gz")
    sample = reader.load(records[4])
    assert sample.is_hu and np.array_equal(sample.labels, labels.array[1])
    assert sample.spacing_mm == pytest.approx((360 / 64, 360 / 64))
    lower = PREP.window_level - PREP.window_width / 2
    assert np.allclose(sample.image, np.clip((sample.raw - lower) / PREP.window_width, 0, 1), atol=1e-6)


def test_volume_pairs_explicit_beside_and_folder(tmp_path: Path) -> None:
    ct, lab, hu, labels = _ct_pair(tmp_path)
    reader = SliceReader(PREP)
    for entry in (f"{ct}::{lab}", ct, tmp_path):
        assert detect_layout(entry) == "volume"
        records = list_records(entry)
        assert [r.z for r in records] == [0, 1, 2]
        sample = reader.load(records[2])
        assert np.array_equal(sample.raw, hu[2]) and np.array_equal(sample.labels, labels[2])
        assert sample.spacing_mm == pytest.approx((0.7, 0.8))


def _workspace(tmp_path: Path, slices: dict[str, str]) -> Path:
    ct, _, _, labels = _ct_pair(tmp_path / "ct", slices=4)
    ws = tmp_path / "ws"
    ws.mkdir()
    corrected = labels.copy()
    corrected[3, 0:5, 0:5] = 2
    write_labels(LabelMap(corrected, Geometry((2.0, 0.7, 0.8))), ws / "labels.nii.gz")
    review = {"format": "lesionloop-review", "schema": 1, "ct": str(ct), "slices": slices}
    (ws / "review.json").write_text(json.dumps(review))
    return ws


def test_workspace_trains_only_accepted_and_corrected_slices(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, {"0": "accepted", "1": "flagged", "3": "corrected", "2": "unreviewed"})
    assert detect_layout(ws) == "workspace"
    records = list_records(ws)
    assert [r.z for r in records] == [0, 3]
    sample = SliceReader(PREP).load(records[1])
    assert (sample.labels[0:5, 0:5] == 2).all()  # the corrected labels, not the CT's original ones
    assert read_review(ws)["slices"] == {0: "accepted", 1: "flagged", 3: "corrected", 2: "unreviewed"}


@pytest.mark.parametrize("slices, message", [({"0": "maybe"}, "status"), ({"x": "accepted"}, "whole number"),
                                             ({"9": "accepted"}, "4 slices")])
def test_workspace_errors_are_one_line(tmp_path: Path, slices: dict, message: str) -> None:
    ws = _workspace(tmp_path, slices)
    with pytest.raises(InputError, match=message) as info:
        list_records(ws)
    assert "\n" not in str(info.value)


def test_unknown_layouts_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no training data layout"):
        detect_layout(tmp_path / "empty")
    with pytest.raises(InputError, match="does not exist"):
        detect_layout(tmp_path / "missing")
    lonely = tmp_path / "lonely.nii.gz"
    lonely.write_bytes(b"x")
    with pytest.raises(InputError, match="CT::LABELS"):
        detect_layout(lonely)


def test_the_same_slice_twice_is_refused(tmp_path: Path) -> None:
    folder = write_medseg(tmp_path / "m", [0, 1])
    with pytest.raises(InputError, match="given twice"):
        collect_records([folder, folder])


def test_medseg_split_is_the_baselines_split(tmp_path: Path) -> None:
    folder = write_medseg(tmp_path / "train", MEDSEG_NUMBERS, size=(20, 20))
    records = collect_records([folder, write_phantom(tmp_path / "ph", slices=2)])
    train, val = medseg_split(records)
    assert [Path(r.image_path).stem for r in val] == BASELINE_VAL
    assert len(train) == 40 + 2 and not {r.sample_id for r in train} & {r.sample_id for r in val}
    with pytest.raises(InputError, match="needs MedSeg"):
        medseg_split([r for r in records if r.layout == "phantom"])


def test_medseg_split_on_the_real_slices(shared_data: Path) -> None:
    records = list_records(shared_data / "medseg_covid_slices" / "train")
    train, val = medseg_split(records)
    assert [Path(r.image_path).stem for r in val] == BASELINE_VAL and len(train) == 40
    reader = SliceReader(PREP)
    shapes = set()
    for record in val[:4]:
        sample = reader.load(record)
        assert sample.labels.shape == sample.image.shape and sample.labels.max() <= 2
        assert 0.0 <= sample.image.min() and sample.image.max() <= 1.0 and not sample.is_hu
        shapes.add(sample.image.shape)
    assert len(shapes) > 1  # MedSeg sizes vary


def test_data_hash_follows_labels_not_paths(tmp_path: Path) -> None:
    a = write_medseg(tmp_path / "one" / "train", [0, 1, 2])
    b = tmp_path / "two" / "train"
    shutil.copytree(a, b)
    reader = SliceReader(PREP)
    hash_a, hash_b = data_hash(list_records(a), reader), data_hash(list_records(b), reader)
    assert hash_a == hash_b and hash_a.startswith("sha256:")
    mask = np.asarray(Image.open(b / "masks" / "1.png")).copy()
    mask[0, 0] = 2
    Image.fromarray(mask).save(b / "masks" / "1.png")
    assert data_hash(list_records(b), reader) != hash_a
