"""Inference from the window: streaming, cancel, superseding, RoIs and score maps."""
from __future__ import annotations

import numpy as np

from core_models.prediction import Prediction, RoI, SliceResult
from core_models.roi_maps import paste_logits
from core_models.labels import default_label_table
from tests.viewer.conftest import make_volume
from viewer.slice_view import overlay_rgba


def _use_tiny(window, tiny_model_dir):
    window.inference.add_model(tiny_model_dir, "tiny")
    assert window.inference.combo.currentData() == str(tiny_model_dir)


def test_run_streams_results_and_finishes(window, nifti_path, tiny_model_dir, qtbot):
    window.open_path(nifti_path)
    _use_tiny(window, tiny_model_dir)
    arrivals: list[int] = []
    finished_at: list[int] = []
    window.session.sliceResultArrived.connect(arrivals.append)
    window.inference.runFinished.connect(lambda _p: finished_at.append(len(arrivals)))
    with qtbot.waitSignal(window.inference.runFinished, timeout=60000) as blocker:
        assert window.run_inference()
        assert window.cancel_action.isEnabled()
    pred: Prediction = blocker.args[0]
    assert pred.complete and sorted(pred.slices) == list(range(6))
    assert finished_at == [6] and sorted(arrivals) == list(range(6))
    assert arrivals[0] == 3  # the slice on screen comes first
    assert np.array_equal(window.session.predicted.array, pred.labels.array)
    assert window.views["axial"].overlay.image is not None
    assert "CPU" in window.device_label.text() or "GPU" in window.device_label.text()
    qtbot.waitUntil(lambda: not window.cancel_action.isEnabled(), timeout=5000)


def test_cancel_keeps_partial_results(window, tiny_model_dir, qtbot, tmp_path):
    from core_models.io import write_volume

    path = write_volume(make_volume(nz=40), tmp_path / "long.nii.gz")
    window.open_path(path)
    _use_tiny(window, tiny_model_dir)
    window.inference.runner.yielded.connect(lambda _r: window.inference.cancel())
    with qtbot.waitSignal(window.inference.runFinished, timeout=60000) as blocker:
        window.run_inference()
    pred: Prediction = blocker.args[0]
    assert not pred.complete and 0 < len(pred.slices) < 40
    assert set(window.session.slice_results) == set(pred.slices)
    assert "cancelled" in window.statusBar().currentMessage()


def test_new_run_supersedes_old(window, tiny_model_dir, qtbot, tmp_path):
    from core_models.io import write_volume

    path = write_volume(make_volume(nz=10), tmp_path / "v.nii.gz")
    window.open_path(path)
    _use_tiny(window, tiny_model_dir)
    finished: list[Prediction] = []
    window.inference.runFinished.connect(finished.append)
    window.run_inference()
    first_gen = window.inference.runner.generation
    qtbot.waitUntil(lambda: len(window.session.slice_results) >= 1, timeout=30000)
    with qtbot.waitSignal(window.inference.runFinished, timeout=60000):
        window.run_inference()
    window.inference.runner.wait(30000)
    qtbot.wait(100)
    assert window.inference.runner.generation == first_gen + 1
    assert len(finished) == 1 and finished[0].complete  # only the new run's result arrived
    assert window.inference.runner.dropped > 0


def test_error_in_run_is_a_dialog(window, nifti_path, tmp_path, qtbot, monkeypatch):
    import viewer.inference_controller as ic

    monkeypatch.setattr(ic, "available_models", lambda: [])  # no bundled model, empty registry
    window.inference.refresh_models()
    window.open_path(nifti_path)
    assert not window.run_inference()
    assert "no model" in window.errors_shown[-1]
    broken = tmp_path / "broken_model"
    broken.mkdir()
    (broken / "spec.json").write_text("{not json")
    window.inference.add_model(broken, "broken")
    assert not window.run_inference()
    assert "not readable JSON" in window.errors_shown[-1]


def _fake_result(z: int, shape: tuple[int, int]) -> SliceResult:
    logits = np.linspace(-3, 3, 28 * 28, dtype=np.float32).reshape(28, 28).astype(np.float16)
    rois = [RoI((4.0, 6.0, 20.0, 30.0), 1, 0.9, logits), RoI((10.0, 10.0, 14.0, 16.0), 2, 0.3, -logits)]
    labels = np.zeros(shape, np.uint8)
    labels[6:30, 4:20] = 1
    return SliceResult(z, rois, labels, np.array([0.1, 0.2, 0.7]), {1: 24 * 16 * 0.56})


def test_roi_selection_shows_score_map(window, nifti_path):
    window.open_path(nifti_path)
    s = window.session
    s.begin_prediction("fake")
    s.add_slice_result(_fake_result(s.current_slice, s.volume.shape[1:]))
    panel = window.roi_panel
    assert panel.list.count() == 1  # the 0.3 RoI is under the 0.5 minimum score
    panel.slider.setValue(20)
    assert panel.list.count() == 2
    assert len(window.views["axial"].shown_boxes()) == 2
    panel.list.setCurrentRow(1)
    assert s.selected_roi == 1
    expected, (y0, y1, x0, x1) = paste_logits(-_fake_result(0, (1, 1)).rois[0].mask_logits,
                                               (10.0, 10.0, 14.0, 16.0), s.volume.shape[1:])
    assert np.allclose(panel.map_image.image, expected)
    assert (y0, y1, x0, x1) == (10, 16, 10, 14)
    assert "Consolidation" in panel.map_title.text()
    pens = [item.pen().widthF() for item in window.views["axial"].shown_boxes()]
    assert sorted(pens) == [1.0, 2.5]  # the selected box is drawn thicker
    s.step_slice(1)
    assert s.selected_roi is None and panel.list.count() == 0
    assert window.views["axial"].shown_boxes() == []


def test_class_panel_and_summary(window, nifti_path, qtbot):
    window.open_path(nifti_path)
    s = window.session
    s.begin_prediction("fake", classifier_note="classifier S was trained on synthetic phantoms only")
    for z in (1, 3):
        s.add_slice_result(_fake_result(z, s.volume.shape[1:]))
    panel = window.class_panel
    assert panel.note.isVisibleTo(panel) and "phantoms" in panel.note.text()
    assert "COVID-19 0.70" in panel.series_label.text()
    xs, ys = panel.prob_curve.getData()
    assert list(xs) == [1, 3] and np.allclose(ys, 0.7)
    ml = 2 * 24 * 16 * np.prod(s.volume.spacing) / 1000
    assert f"{ml:.2f} mL" in panel.summary.text()
    panel.sliceChangeRequested.emit(1)
    assert s.current_slice == 1 and "COVID-19 0.70" in panel.slice_label.text()


def test_overlay_style_controls(window, nifti_path):
    window.open_path(nifti_path)
    s = window.session
    s.begin_prediction("fake")
    s.add_slice_result(_fake_result(s.current_slice, s.volume.shape[1:]))
    axial = window.views["axial"]
    filled = overlay_rgba(axial)
    assert filled[10, 10, 3] > 0 and filled[0, 0, 3] == 0
    assert tuple(filled[10, 10, :3]) == default_label_table().by_value(1).color
    window.display_panel.outline.setChecked(True)
    outlined = overlay_rgba(axial)
    assert outlined[10, 10, 3] == 0 and outlined[6, 10, 3] > 0  # inside empty, border drawn
    window.display_panel.outline.setChecked(False)
    window.display_panel.class_boxes[1].setChecked(False)
    assert overlay_rgba(axial)[..., 3].max() == 0
    window.display_panel.class_boxes[1].setChecked(True)
    window.display_panel.opacity.setValue(100)
    assert overlay_rgba(axial)[10, 10, 3] == 255


def _model_with_lungs_on(tiny_model_dir, tmp_path):
    import shutil

    from core_models.atomic import atomic_write_json
    from core_models.checkpoints import read_spec

    folder = tmp_path / "lungs_model"
    shutil.copytree(tiny_model_dir, folder)
    spec = read_spec(folder)
    spec.restrict_to_lungs = True
    atomic_write_json(folder / "spec.json", spec.to_json())
    return folder


def test_restrict_to_lungs_action_follows_the_model_reaches_the_run_and_is_remembered(
        window, nifti_path, tiny_model_dir, tmp_path, qtbot, monkeypatch):
    import core_models.inference as inference

    seen: list[bool | None] = []
    real = inference.run_inference

    def spy(*args, **kwargs):
        seen.append(kwargs.get("restrict_to_lungs"))
        return real(*args, **kwargs)

    monkeypatch.setattr(inference, "run_inference", spy)
    action = window.inference.lungs_action
    model_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Model")
    assert action in model_menu.actions() and action.isCheckable()
    assert action.text() == "Restrict lesions to the lungs"
    window.open_path(nifti_path)
    _use_tiny(window, tiny_model_dir)
    assert not action.isChecked()  # the tiny model's spec says False
    window.inference.add_model(_model_with_lungs_on(tiny_model_dir, tmp_path), "lungs")
    assert action.isChecked()  # this one's spec says True
    with qtbot.waitSignal(window.inference.runFinished, timeout=60000):
        assert window.run_inference()
    assert seen == [True]
    action.trigger()  # the user turns it off: remembered, and it wins over any model's spec
    assert not action.isChecked()
    with qtbot.waitSignal(window.inference.runFinished, timeout=60000):
        assert window.run_inference()
    assert seen == [True, False]
    window.inference.combo.setCurrentIndex(window.inference.combo.findData(str(tiny_model_dir)))
    window.inference.add_model(tmp_path / "lungs_model", "lungs")
    assert not action.isChecked()
    from viewer.inference_controller import InferenceController
    from viewer.settings import open_settings

    again = InferenceController(window.session, window, settings=open_settings())
    again.add_model(tmp_path / "lungs_model", "lungs")
    assert not again.lungs_action.isChecked()  # read back from the settings file
