"""``lesionloop export WORKSPACE --out DIR [--format ...]``: every format, bad workspaces."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from core_models.io import read_labels, write_volume
from core_models.labels import default_label_table
from core_models.volume import CTVolume
from core_models.workspace import Workspace, export_workspace
from tests.core_models.workspace_helpers import GEOMETRY, prediction, small_volume
from training.cli import run_command

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def volume() -> CTVolume:
    return small_volume((4, 40, 32))


@pytest.fixture()
def ws(tmp_path: Path, volume: CTVolume) -> Workspace:
    ct = write_volume(volume, tmp_path / "scan.nii.gz")
    ws = Workspace.create(tmp_path / "scan.nii.gz.lesionloop", ct, volume, prediction(volume))
    ws.corrected.array[2, 30:35, 1:4] = 2  # a correction of our own
    ws.save()
    return ws


def _png_stack(folder: Path) -> np.ndarray:
    files = sorted(folder.glob("*.png"))
    assert [f.name for f in files] == [f"slice_{z:04d}.png" for z in range(len(files))]
    return np.stack([np.asarray(Image.open(f)) for f in files])


def test_all_formats_by_default(tmp_path, ws, capsys):
    out = tmp_path / "out"
    assert run_command(["export", str(ws.folder), "--out", str(out)]) == 0
    printed = capsys.readouterr().out.split()
    labels = ws.corrected.array
    nifti = read_labels(out / "scan_labels.nii.gz")
    assert np.array_equal(nifti.array, labels)
    np.testing.assert_allclose(nifti.geometry.spacing, GEOMETRY.spacing, atol=1e-5)
    np.testing.assert_allclose(nifti.geometry.direction, GEOMETRY.direction, atol=1e-6)
    seg = read_labels(out / "scan_labels.seg.nrrd")
    assert seg.meta["format"] == "seg.nrrd" and np.array_equal(seg.array, labels)
    ours = _png_stack(out / "scan_png")
    assert np.array_equal(ours, labels)
    seed = _png_stack(out / "scan_png_seed")
    assert np.array_equal(seed, np.array([0, 2, 3], np.uint8)[labels])  # 0 bg, 2 GGO, 3 consolidation
    assert str(out / "scan_labels.nii.gz") in printed and len(printed) == 2 + 2 * labels.shape[0]


def test_seg_nrrd_names_and_colours_for_slicer(tmp_path, ws):
    out = tmp_path / "out"
    assert run_command(["export", str(ws.folder), "--out", str(out), "--format", "seg-nrrd"]) == 0
    assert [p.name for p in out.iterdir()] == ["scan_labels.seg.nrrd"]
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(out / "scan_labels.seg.nrrd"))
    reader.ReadImageInformation()
    fields = {k: reader.GetMetaData(k) for k in reader.GetMetaDataKeys()}
    for i, lab in enumerate(default_label_table().foreground()):
        assert fields[f"Segment{i}_Name"] == lab.name
        assert fields[f"Segment{i}_LabelValue"] == str(lab.value)
        colour = [float(c) for c in fields[f"Segment{i}_Color"].split()]
        np.testing.assert_allclose(colour, np.array(lab.color) / 255, atol=1e-4)


def test_png_formats_one_at_a_time_and_by_ct_path(tmp_path, ws):
    out = tmp_path / "out"
    ct = tmp_path / "scan.nii.gz"  # the CT itself: its workspace is found beside it
    assert run_command(["export", str(ct), "--out", str(out), "--format", "png-seed"]) == 0
    assert [p.name for p in out.iterdir()] == ["scan_png_seed"]
    assert set(np.unique(_png_stack(out / "scan_png_seed"))) == {0, 2, 3}
    assert run_command(["export", str(ws.folder), "--out", str(out), "--format", "png", "--format", "nifti"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["scan_labels.nii.gz", "scan_png", "scan_png_seed"]
    assert np.array_equal(_png_stack(out / "scan_png"), ws.corrected.array)


def test_seed_pngs_mark_a_given_lung_as_1(tmp_path, ws):
    lung = np.zeros(ws.corrected.shape, bool)
    lung[:, 2:38, 2:30] = True
    (folder,) = {p.parent for p in export_workspace(ws.folder, tmp_path / "out", ["png-seed"], lung=lung)}
    seed = _png_stack(folder)
    labels = ws.corrected.array
    assert (seed[(labels == 0) & lung] == 1).all() and (seed[labels == 1] == 2).all()
    assert (seed[labels == 2] == 3).all() and (seed[~lung & (labels == 0)] == 0).all()


def test_unsaved_journal_is_noted_or_included(tmp_path, ws, capsys):
    ws.corrected.array[0, 0:4, 0:4] = 0
    from core_models.editing import LabelEdit

    ws.apply_edit(LabelEdit.from_mask(ws.corrected.array, 0, np.ones((4, 4), bool), 1))
    ws.close()
    out = tmp_path / "out"
    assert run_command(["export", str(ws.folder), "--out", str(out), "--format", "nifti"]) == 0
    assert "1 journalled change(s) not saved" in capsys.readouterr().err
    assert (read_labels(out / "scan_labels.nii.gz").array[0, 0:4, 0:4] == 0).all()
    assert run_command(["export", str(ws.folder), "--out", str(out), "--format", "nifti", "--include-unsaved"]) == 0
    assert (read_labels(out / "scan_labels.nii.gz").array[0, 0:4, 0:4] == 1).all()
    assert Workspace.open(ws.folder).pending_recovery() == 1  # exporting changes nothing in the workspace


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def test_bad_workspaces_are_one_line_exit_2(tmp_path, ws, capsys):
    (tmp_path / "empty").mkdir()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "review.json").write_text(json.dumps({"format": "lesionloop-review", "schema": 1, "ct": "x.nii.gz"}))
    cases = [(tmp_path / "missing", "does not exist"), (tmp_path / "empty", "not a LesionLoop workspace"),
             (broken, "labels")]
    for folder, word in cases:
        assert run_command(["export", str(folder), "--out", str(tmp_path / "out")]) == 2
        line = _one_line_error(capsys)
        assert line.startswith("lesionloop export: error: ") and word in line, line
    assert not (tmp_path / "out").exists()


def test_bad_workspace_through_main_py(tmp_path):
    res = subprocess.run([sys.executable, str(REPO / "main.py"), "export", str(tmp_path), "--out", str(tmp_path / "o")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().startswith("lesionloop export: error: ") and len(res.stderr.strip().splitlines()) == 1
