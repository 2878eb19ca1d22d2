"""``lesionloop info PATH [--series S] [--json]`` through ``python main.py``."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core_models.io import write_volume
from core_models.volume import CTVolume, Geometry

REPO = Path(__file__).resolve().parents[2]


def run_info(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "main.py"), "info", *args],
                          capture_output=True, text=True, timeout=120)


def info_json(*args: str) -> dict:
    res = run_info(*args, "--json")
    assert res.returncode == 0, res.stderr
    assert len(res.stdout.strip().splitlines()) == 1  # one JSON object on one line
    return json.loads(res.stdout)


@pytest.fixture()
def small_ct(tmp_path: Path) -> CTVolume:
    array = np.full((5, 6, 7), -1000, np.int16)
    array[2, 3, 4] = 1500
    array[0, 0, 0] = -1024
    geometry = Geometry(spacing=(2.5, 0.8, 0.75), origin=(-10.0, 20.5, -300.25))
    return CTVolume(array, geometry)


def test_json_describes_the_volume(tmp_path, small_ct):
    path = write_volume(small_ct, tmp_path / "ct.nii.gz")
    info = info_json(str(path))
    assert info["shape"] == [5, 6, 7]
    np.testing.assert_allclose(info["spacing"], [2.5, 0.8, 0.75], atol=1e-5)
    np.testing.assert_allclose(info["origin"], [-10.0, 20.5, -300.25], atol=1e-4)
    np.testing.assert_allclose(info["direction"], np.eye(3).ravel(), atol=1e-6)
    assert (info["min"], info["max"]) == (-1024, 1500)
    assert info["hu"] is True and info["modality"] == "CT"
    assert info["orientation"] == "LPS"
    assert info["series"] == [{"uid": "", "description": "NIfTI file ct.nii.gz", "n_slices": 5,
                               "modality": "", "chosen": True}]
    assert str(path) in info["source"]


def test_human_output_lists_the_facts(tmp_path, small_ct):
    path = write_volume(small_ct, tmp_path / "ct.nrrd")
    res = run_info(str(path))
    assert res.returncode == 0 and res.stderr == ""
    text = res.stdout
    assert "5 x 6 x 7 (z, y, x)" in text
    assert "2.5, 0.8, 0.75 mm" in text
    assert "-1024 .. 1500 HU" in text
    assert "LPS" in text and "Hounsfield units" in text


def test_png_folder_is_not_hu(tmp_path):
    for i in range(3):
        Image.fromarray(np.full((4, 5), 10 * i, np.uint8)).save(tmp_path / f"{i}.png")
    info = info_json(str(tmp_path))
    assert info["hu"] is False and info["modality"] == "OT"
    assert info["shape"] == [3, 4, 5] and (info["min"], info["max"]) == (0, 20)


def test_dicom_series_with_spacing(shared_data):
    info = info_json(str(shared_data / "lung_pet_ct_dx_chest_ct"))
    assert info["shape"] == [30, 512, 512]
    assert info["spacing"][0] == pytest.approx(8.0, abs=0.05)
    assert info["hu"] is True and info["modality"] == "CT" and info["min"] <= -1000
    assert len(info["series"]) == 1 and info["series"][0]["chosen"] is True
    assert len(info["series"][0]["uid"]) > 10


def test_series_option_picks_and_marks(shared_data):
    folder = next((shared_data / "sbu_covid_slices").glob("*/axial"))
    default = info_json(str(folder))
    picked = info_json(str(folder), "--series", "1")
    assert [s["chosen"] for s in default["series"]] == [True, False]
    assert [s["chosen"] for s in picked["series"]] == [False, True]
    assert default["source"] != picked["source"]
    by_uid = info_json(str(folder), "--series", picked["series"][1]["uid"])
    assert [s["chosen"] for s in by_uid["series"]] == [False, True]
    res = run_info(str(folder), "--series", "7")
    assert res.returncode == 2 and "series 7" in res.stderr and "Traceback" not in res.stderr


def test_sagittal_file_orientation(shared_data):
    path = sorted((shared_data / "sbu_covid_slices").glob("*/sagittal/*.dcm"))[0]
    info = info_json(str(path))
    assert info["plane"] == "sagittal" and info["orientation"] != "LPS"
    assert info["shape"][0] == 1
