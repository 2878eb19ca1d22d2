from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from PIL import Image

from core_models.io import read_labels, read_volume, write_volume
from core_models.volume import CTVolume, Geometry

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, str(REPO / "main.py"), *args], capture_output=True, text=True,
                          timeout=300, env=full_env)


def _ct(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    arr = rng.normal(-600, 250, (3, 72, 80)).astype(np.int16)
    direction = (1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0)
    vol = CTVolume(arr, Geometry((2.5, 0.8, 0.6), (-50.0, 20.0, -100.0), direction))
    path = tmp_path / "ct.nii.gz"
    write_volume(vol, path)
    return path


def test_volume_in_label_volume_out_with_geometry_and_report(tmp_path, tiny_model_dir):
    ct = _ct(tmp_path)
    out, report = tmp_path / "labels.nii.gz", tmp_path / "report.json"
    res = run_cli("infer", str(ct), "--out", str(out), "--model", str(tiny_model_dir), "--device", "cpu",
                  "--report", str(report))
    assert res.returncode == 0, res.stderr
    src, lab = sitk.ReadImage(str(ct)), sitk.ReadImage(str(out))
    assert lab.GetSize() == src.GetSize()
    np.testing.assert_allclose(lab.GetSpacing(), src.GetSpacing(), atol=1e-5)
    np.testing.assert_allclose(lab.GetOrigin(), src.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(lab.GetDirection(), src.GetDirection(), atol=1e-6)
    data = json.loads(report.read_text())
    assert data["model_version"] == "tiny-test" and data["complete"] is True
    assert len(data["slices"]) == 3 and "lesion_volume_ml" in data["series"]
    assert data["timings"]["total_s"] > 0 and data["input"]["shape"] == [3, 72, 80]
    labels = sitk.GetArrayFromImage(lab)
    voxel_ml = 2.5 * 0.8 * 0.6 / 1000
    assert data["series"]["lesion_volume_ml"].get("1", 0.0) == round(float((labels == 1).sum() * voxel_ml), 3)
    assert "slices" in res.stderr or "infer [" in res.stderr  # the progress bar


def test_seg_nrrd_output(tmp_path, tiny_model_dir):
    ct = _ct(tmp_path)
    out = tmp_path / "labels.seg.nrrd"
    res = run_cli("infer", str(ct), "--out", str(out), "--model", str(tiny_model_dir), "--device", "cpu")
    assert res.returncode == 0, res.stderr
    labels = read_labels(out, reference=read_volume(ct))
    assert labels.shape == (3, 72, 80)


def test_image_and_image_folder(tmp_path, tiny_model_dir):
    folder = tmp_path / "slices"
    folder.mkdir()
    rng = np.random.default_rng(4)
    for name in ("a_1.png", "a_2.png"):
        Image.fromarray(rng.integers(0, 255, (70, 90), dtype=np.uint8)).save(folder / name)
    one = run_cli("infer", str(folder / "a_1.png"), "--out", str(tmp_path / "one.png"), "--model", str(tiny_model_dir))
    assert one.returncode == 0, one.stderr
    assert Image.open(tmp_path / "one.png").size == (90, 70)
    many = run_cli("infer", str(folder), "--out", str(tmp_path / "labels"), "--model", str(tiny_model_dir))
    assert many.returncode == 0, many.stderr
    assert sorted(p.name for p in (tmp_path / "labels").iterdir()) == ["a_1.png", "a_2.png"]


def test_no_model_available_is_a_clear_message(tmp_path):
    resources = tmp_path / "resources"
    resources.mkdir()
    shutil.copy(REPO / "resources" / "labels.json", resources / "labels.json")
    res = run_cli("infer", str(_ct(tmp_path)), "--out", str(tmp_path / "x.nii.gz"),
                  env={"LESIONLOOP_RESOURCES": str(resources)})
    assert res.returncode == 2
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert "model" in res.stderr
    assert not (tmp_path / "x.nii.gz").exists()


def test_output_that_does_not_fit_the_input(tmp_path, tiny_model_dir):
    res = run_cli("infer", str(_ct(tmp_path)), "--out", str(tmp_path / "x.png"), "--model", str(tiny_model_dir))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert ".nii" in res.stderr


def test_lungs_only_flags_reach_run_inference_and_the_report(tmp_path, tiny_model_dir, monkeypatch):
    import training.cli.infer as infer_cli
    from training.cli import run_command

    seen: list[bool | None] = []
    real = infer_cli.run_inference

    def spy(*args, **kwargs):
        seen.append(kwargs.get("restrict_to_lungs"))
        return real(*args, **kwargs)

    monkeypatch.setattr(infer_cli, "run_inference", spy)
    ct = _ct(tmp_path)
    for flag, want in ((None, None), ("--lungs-only", True), ("--no-lungs-only", False)):
        report = tmp_path / f"{flag}.json"
        argv = ["infer", str(ct), "--out", str(tmp_path / "l.nii.gz"), "--model", str(tiny_model_dir),
                "--device", "cpu", "--report", str(report)] + ([flag] if flag else [])
        assert run_command(argv) == 0
        assert seen[-1] is want
        # the tiny model's spec says False; the report says whether the filter ran (a HU volume)
        assert json.loads(report.read_text())["restrict_to_lungs"] is bool(want)
