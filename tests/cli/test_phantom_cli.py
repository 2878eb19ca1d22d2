"""``lesionloop phantom``: NIfTI and seed-layout PNG output, and one-line errors for bad arguments."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from training.cli import run_command

REPO = Path(__file__).resolve().parents[2]
SEED_NAME = re.compile(r"^(?P<cls>[012])_(?P<patient>\d+)_(?P<scan>\d+)_(?P<slice>\d+)\.png$")


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_writes_readable_nifti_and_seed_layout_pngs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "phantoms"
    argv = ["phantom", "--out", str(out), "--cases", "3", "--seed", "3", "--size", "64", "--slices", "4", "--png"]
    assert run_command(argv) == 0
    captured = capsys.readouterr()
    assert "wrote 3 phantom case(s)" in captured.out
    assert len(captured.err.strip().splitlines()) == 3, "one progress line per case"
    manifest = json.loads((out / "cases.json").read_text())
    class_of = {case["index"]: case["class_id"] for case in manifest["cases"]}
    assert sorted(class_of.values()) == [0, 1, 2]
    for case in manifest["cases"]:
        image = sitk.ReadImage(str(out / case["image"]))
        assert image.GetSize() == (64, 64, 4)
        assert image.GetPixelID() == sitk.sitkInt16
        labels = sitk.GetArrayFromImage(sitk.ReadImage(str(out / case["labels"])))
        assert set(np.unique(labels)) <= {0, 1, 2}
        assert (labels > 0).any() == (case["kind"] != "normal")
    names = sorted(p.name for p in (out / "png" / "imgs").iterdir())
    assert names == sorted(p.name for p in (out / "png" / "masks").iterdir())
    assert len(names) == 3 * 4
    for name in names:
        match = SEED_NAME.match(name)
        assert match, name
        assert int(match["cls"]) == class_of[int(match["patient"])]
        assert int(match["scan"]) == 0 and 0 <= int(match["slice"]) < 4
        grey = Image.open(out / "png" / "imgs" / name)
        assert grey.mode == "L" and grey.size == (64, 64)
        assert set(np.unique(np.asarray(Image.open(out / "png" / "masks" / name)))) <= {0, 1, 2, 3}


@pytest.mark.parametrize(("args", "word"), [
    (["--cases", "0"], "case count"),
    (["--size", "10"], "size"),
    (["--slices", "0"], "slices"),
    (["--seed", "-1"], "seed"),
    (["--z-spacing", "50"], "spacing"),
    (["--size", "2048", "--slices", "2048"], "voxels"),
])
def test_bad_values_are_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        args: list[str], word: str) -> None:
    out = tmp_path / "never"
    assert run_command(["phantom", "--out", str(out), *args]) == 2
    line = one_line_error(capsys)
    assert line.startswith("lesionloop phantom: error: ") and word in line
    assert not out.exists()


def test_unwritable_out_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert run_command(["phantom", "--out", str(blocker / "sub"), "--size", "64", "--slices", "1"]) == 2
    assert "cannot create output folder" in one_line_error(capsys)


@pytest.mark.parametrize("args", [["--kind", "flu"], ["--cases", "many"], []])
def test_malformed_arguments_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    out_args = ["--out", str(tmp_path / "x")] if args else []
    with pytest.raises(SystemExit) as info:
        run_command(["phantom", *out_args, *args])
    assert info.value.code == 2
    assert one_line_error(capsys).startswith("lesionloop phantom: error:")


def test_entry_point_runs_the_subcommand(tmp_path: Path) -> None:
    out = tmp_path / "p"
    res = subprocess.run([sys.executable, str(REPO / "main.py"), "phantom", "--out", str(out), "--size", "64",
                          "--slices", "2", "--kind", "cap", "--quiet"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    volume = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "case_000.nii.gz")))
    assert volume.shape == (2, 64, 64) and volume.min() >= -1024
