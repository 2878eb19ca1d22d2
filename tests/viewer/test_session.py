"""ReviewSession: position, window, streamed results (no widgets)."""
from __future__ import annotations

import numpy as np
import pytest

from core_models.prediction import Prediction, RoI, SliceResult, Timings
from tests.viewer.conftest import make_volume
from viewer.session import ReviewSession
from viewer.windowing import HU_PRESETS, Window


def _result(z: int, shape: tuple[int, int], value: int = 1) -> SliceResult:
    labels = np.zeros(shape, np.uint8)
    labels[5:9, 6:12] = value
    roi = RoI((6.0, 5.0, 12.0, 9.0), value, 0.9, np.zeros((28, 28), np.float16))
    return SliceResult(z, [roi], labels, np.array([0.2, 0.3, 0.5]), {value: 24.0})


def test_set_volume_centres_and_emits(qtbot, small_volume):
    session = ReviewSession()
    with qtbot.waitSignals([session.volumeChanged, session.sliceChanged, session.windowChanged]):
        session.set_volume(small_volume)
    assert session.current_slice == small_volume.shape[0] // 2
    assert session.window == Window(*HU_PRESETS["lung"])


def test_slice_is_clamped_and_signals_only_on_change(qtbot, small_volume):
    session = ReviewSession()
    session.set_volume(small_volume)
    seen: list[int] = []
    session.sliceChanged.connect(seen.append)
    session.set_slice(999)
    session.set_slice(999)
    session.step_slice(-2)
    session.set_slice(-5)
    assert seen == [5, 3, 0]


def test_presets_and_eight_bit(qtbot):
    session = ReviewSession()
    session.set_volume(make_volume(is_hu=False))
    assert session.window.levels == (0.0, 255.0)
    assert session.apply_preset(1) is False  # an HU preset means nothing on 8-bit grey
    assert session.window.levels == (0.0, 255.0)
    session.set_volume(make_volume())
    assert session.apply_preset(2) and session.window == Window(350.0, 40.0)
    assert session.apply_preset(4)
    lo, hi = session.window.levels
    assert lo == session.volume.array.min() and hi == session.volume.array.max()


def test_drag_window_right_widens_up_raises_level(small_volume):
    session = ReviewSession()
    session.set_volume(small_volume)
    start = session.window
    session.drag_window(start, 50, 0)
    assert session.window.width > start.width and session.window.level == start.level
    session.drag_window(start, 0, -40)
    assert session.window.level > start.level and session.window.width == start.width


def test_slice_results_copy_labels_in_and_report_bbox(qtbot, small_volume):
    session = ReviewSession()
    session.set_volume(small_volume)
    session.begin_prediction("v")
    shape = small_volume.shape[1:]
    with qtbot.waitSignal(session.labelsChanged) as blocker:
        session.add_slice_result(_result(2, shape, value=2))
    assert blocker.args[0][:2] == (2, 3)
    assert session.predicted.array[2, 6, 7] == 2 and session.corrected.array[2, 6, 7] == 2
    assert session.predicted.array[[0, 1, 3, 4, 5]].max() == 0
    ml = session.volumes_ml()
    assert ml[2] == pytest.approx(24 * np.prod(small_volume.spacing) / 1000)


def test_finish_prediction_fills_missing_slices(small_volume):
    session = ReviewSession()
    session.set_volume(small_volume)
    shape = small_volume.shape[1:]
    labels = small_volume.empty_labels()
    slices = {z: _result(z, shape) for z in (1, 4)}
    for z, r in slices.items():
        labels.array[z] = r.labels
    session.finish_prediction(Prediction(labels, slices, "v1", "CPU", False, Timings()))
    assert sorted(session.slice_results) == [1, 4]
    assert session.prediction is not None and not session.prediction.complete
    zs, covid, area = session.slice_series()
    assert list(zs) == [1, 4] and np.allclose(covid, 0.5) and np.allclose(area, 24.0)


def test_wrong_shaped_result_is_ignored(small_volume):
    session = ReviewSession()
    session.set_volume(small_volume)
    session.begin_prediction()
    session.add_slice_result(_result(1, (3, 3)))
    assert session.slice_results == {}
