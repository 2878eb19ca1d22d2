"""The viewer's command line: headless screenshots, demo, empty window."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import REPO
from viewer.app import run_viewer, start_demo


def test_view_screenshot_in_process(qtbot, nifti_path, tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "shot.png"
    code = run_viewer(["view", str(nifti_path), "--infer", "--model", str(tiny_model_dir), "--slice", "2",
                       "--layout", "three", "--screenshot", str(out)])
    assert code == 0, capsys.readouterr().err
    image = np.asarray(Image.open(out))
    assert image.shape[0] >= 600 and image.shape[1] >= 900
    assert image[..., :3].std() > 10  # not a blank picture


def test_view_screenshot_bad_input_is_one_line(qtbot, tmp_path, capsys):
    code = run_viewer(["view", str(tmp_path / "nothing.nii.gz"), "--screenshot", str(tmp_path / "x.png")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("lesionloop: error:") and "\n" not in err
    assert not (tmp_path / "x.png").exists()
    assert run_viewer(["view"]) == 2  # argparse: PATH missing


def test_screenshot_command_without_display(nifti_path, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    out = tmp_path / "cli.png"
    proc = subprocess.run([sys.executable, str(REPO / "main.py"), "view", str(nifti_path), "--screenshot", str(out)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert Image.open(out).size[0] > 0


def test_demo_without_model_opens_sample_with_message(window, monkeypatch):
    import viewer.inference_controller as ic

    monkeypatch.setattr(ic, "available_models", lambda: [])
    window.inference.refresh_models()
    assert start_demo(window) is False
    assert window.session.volume is not None and window.session.volume.shape[0] == 72
    assert "No model available" in window.statusBar().currentMessage()
    assert window.errors_shown == []


def test_demo_with_active_model_starts_inference(window, tiny_model_dir, monkeypatch, qtbot):
    import viewer.inference_controller as ic
    from viewer.inference_job import ModelChoice

    monkeypatch.setattr(ic, "available_models",
                        lambda: [ModelChoice("tiny", Path(tiny_model_dir), True, "tiny (active)")])
    window.inference.refresh_models()
    assert start_demo(window)
    qtbot.waitUntil(lambda: len(window.session.slice_results) >= 2, timeout=60000)
    window.inference.cancel()
    assert window.inference.runner.wait(60000)


def test_empty_window_offers_open(window):
    assert window.session.volume is None
    assert window.open_file_action.isEnabled() and window.open_folder_action.isEnabled()
    assert not window.cancel_action.isEnabled()
