"""Classification slices for S: classes from the seed's naming and from phantom metadata, lesion filter, input."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core_models.errors import InputError
from core_models.model_spec import Preprocessing
from tests.training.classifier_helpers import write_class_phantoms, write_named_images
from tests.training.helpers import write_medseg, write_phantom
from training.data.classification import (ClassImageLoader, class_data_hash, class_named_records,
                                          collect_class_data, records_with_classes, trained_on)
from training.data.records import SliceReader

PREP = Preprocessing(input_kind="8bit")


def test_classes_come_from_the_seed_file_names_without_masks(tmp_path: Path) -> None:
    names = ["0_P7_0_3.png", "1_P7_0_1.png", "2_A12_1_10.png", "NCP_A12_1_2.png", "Normal_B3_0_5.png",
             "CP_B4_2_9.png"]
    write_named_images(tmp_path / "slices", names)
    records = class_named_records(tmp_path / "slices")
    by_file = {Path(r.image_path).name: r for r in records}
    assert {n: by_file[n].class_id for n in names} == {
        "0_P7_0_3.png": 0, "1_P7_0_1.png": 1, "2_A12_1_10.png": 2, "NCP_A12_1_2.png": 2,
        "Normal_B3_0_5.png": 0, "CP_B4_2_9.png": 1}
    assert all(r.label_path == "" and r.layout == "class-named" for r in records)
    assert trained_on(records) == "seed-named slices"


def test_a_name_outside_the_convention_is_refused_with_an_example(tmp_path: Path) -> None:
    write_named_images(tmp_path / "d", ["2_P1_0_1.png", "scan_17.png"])
    with pytest.raises(InputError, match=r"naming \[Class\]_\[PatientID\]_\[ScanNum\]_\[SliceNum\]\.png.*scan_17\.png"):
        records_with_classes(tmp_path / "d")
    write_named_images(tmp_path / "e", ["7_P1_0_1.png"])  # class 7 does not exist
    with pytest.raises(InputError, match="7_P1_0_1.png"):
        records_with_classes(tmp_path / "e")


def test_phantom_cases_give_control_cp_and_covid_from_their_metadata(tmp_path: Path) -> None:
    folders = write_class_phantoms(tmp_path, slices=2)
    classes = {folder.name: {r.class_id for r in records_with_classes(folder)} for folder in folders}
    assert classes == {"normal": {0}, "cap": {1}, "covid": {2}}
    manifest = json.loads((folders[1] / "cases.json").read_text())
    assert manifest["cases"][0]["kind"] == "cap"
    records = [r for f in folders for r in records_with_classes(f)]
    assert trained_on(records) == "phantom"


def test_phantom_png_slices_count_as_phantom_and_mixing_real_data_says_so(tmp_path: Path) -> None:
    from core_models.phantom import PhantomConfig, write_phantoms

    write_phantoms(tmp_path / "ph", 2, 3, PhantomConfig(size=64, slices=2, kind="mixed", vessels=False), png=True)
    png = records_with_classes(tmp_path / "ph" / "png")
    assert {r.class_id for r in png} == {2, 1} and all(r.layout == "phantom" and r.label_path for r in png)
    assert trained_on(png) == "phantom"
    named = class_named_records(write_named_images(tmp_path / "real", ["0_P1_0_1.png"]))
    assert trained_on(png + named) == "synthetic phantoms and seed-named slices"


def test_lesion_free_cp_and_covid_slices_are_left_out_unless_asked(tmp_path: Path) -> None:
    names = ["2_P1_0_1.png", "2_P1_0_2.png", "1_P2_0_1.png", "0_P3_0_1.png", "2_P4_0_1.png"]
    masks = {"2_P1_0_1.png": True, "2_P1_0_2.png": False, "1_P2_0_1.png": False, "0_P3_0_1.png": False}
    write_named_images(tmp_path / "set" / "imgs", names, masks=masks)  # 2_P4 has no mask: kept
    reader = SliceReader(PREP)
    data = collect_class_data([tmp_path / "set"], reader)
    assert sorted(Path(r.image_path).name for r in data.records) == ["0_P3_0_1.png", "2_P1_0_1.png", "2_P4_0_1.png"]
    assert data.dropped == 2 and data.class_counts() == [1, 0, 2]
    everything = collect_class_data([tmp_path / "set"], reader, lesion_slices_only=False)
    assert len(everything.records) == 5 and everything.dropped == 0


def test_data_without_classes_and_repeated_slices_are_refused(tmp_path: Path) -> None:
    medseg = write_medseg(tmp_path / "medseg", [1, 2])
    with pytest.raises(InputError, match="no image class"):
        collect_class_data([medseg], SliceReader(PREP))
    phantom = write_phantom(tmp_path / "ph", slices=1)
    with pytest.raises(InputError, match="given twice"):
        collect_class_data([phantom, phantom], SliceReader(PREP))
    with pytest.raises(InputError, match="does not exist"):
        collect_class_data([tmp_path / "nope"], SliceReader(PREP))


def test_loader_gives_the_spec_s_input_for_8bit_and_hu_slices(tmp_path: Path) -> None:
    write_named_images(tmp_path / "g", ["0_P1_0_1.png"], size=24)
    record = class_named_records(tmp_path / "g")[0]
    image = ClassImageLoader(PREP).image(record)
    from PIL import Image

    grey = np.asarray(Image.open(record.image_path), dtype=np.float32) / 255.0
    assert image.shape == (3, 24, 24) and torch.allclose(image[1], torch.from_numpy(grey))
    ph = records_with_classes(write_phantom(tmp_path / "ph", slices=1))[0]
    hu = ClassImageLoader(Preprocessing(input_kind="hu")).image(ph)
    assert hu.shape[0] == 3 and 0.0 <= float(hu.min()) and float(hu.max()) <= 1.0 and float(hu.std()) > 0.05


def test_data_hash_follows_ids_and_classes_not_order(tmp_path: Path) -> None:
    records = class_named_records(write_named_images(tmp_path / "h", ["0_P1_0_1.png", "2_P1_0_2.png"]))
    assert class_data_hash(records) == class_data_hash(records[::-1])
    from dataclasses import replace

    assert class_data_hash([records[0], replace(records[1], class_id=1)]) != class_data_hash(records)
