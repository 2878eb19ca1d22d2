"""Opening inputs, navigation (keys, wheel, slider), window presets and right-drag."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QEvent, QPoint, Qt

from tests.viewer.conftest import send_mouse, send_wheel
from viewer.windowing import Window


def test_open_nifti_keeps_geometry_and_aspect(window, nifti_path, small_volume):
    assert window.open_path(nifti_path)
    vol = window.session.volume
    assert vol.shape == small_volume.shape
    assert np.allclose(vol.spacing, small_volume.spacing)
    axial = window.views["axial"]
    rect = axial.image.mapRectToParent(axial.image.boundingRect())
    # drawn in mm: width = nx * x spacing, height = ny * y spacing
    assert rect.width() == pytest.approx(40 * 0.8) and rect.height() == pytest.approx(48 * 0.7)
    assert axial.image.image.shape == (48, 40)
    assert {e: lab.text() for e, lab in axial.letters.items()} == {"left": "R", "right": "L", "top": "A",
                                                                    "bottom": "P"}


def test_open_png_folder_shows_grey_as_is(window, tmp_path):
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((30, 20), 60 * i, np.uint8)).save(folder / f"{i}.png")
    assert window.open_path(folder)
    assert window.session.volume.is_hu is False
    assert window.session.window.levels == (0.0, 255.0)
    window.apply_preset(1)
    assert window.session.window.levels == (0.0, 255.0)
    assert "8-bit" in window.statusBar().currentMessage()


def test_open_dicom_folder(window, shared_data):
    assert window.open_path(shared_data / "lung_pet_ct_dx_chest_ct")
    assert window.session.volume.shape == (30, 512, 512) and window.session.volume.is_hu


def test_several_series_ask_which(window, shared_data, monkeypatch):
    import viewer.loading as loading

    asked: list[int] = []

    def pick_second(found, parent=None):
        asked.append(len(found))
        return 1
    monkeypatch.setattr(loading, "choose_series_dialog", pick_second)
    assert window.open_path(shared_data / "sbu_covid_slices" / "A002304" / "axial")
    assert asked and asked[0] >= 2
    chosen = [s for s in window.session.volume.meta.get("series", []) if s.get("chosen")]
    assert chosen and chosen[0]["uid"]
    monkeypatch.setattr(loading, "choose_series_dialog", lambda found, parent=None: None)
    before = window.session.volume
    assert not window.open_path(shared_data / "sbu_covid_slices" / "A002304" / "axial")
    assert window.session.volume is before  # cancelled: nothing changed


def test_bad_input_shows_one_line_dialog(window, tmp_path):
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"not a nifti file at all")
    assert not window.open_path(bad)
    assert not window.open_path(tmp_path / "missing.nii")
    assert len(window.errors_shown) == 2
    assert all("\n" not in m and m for m in window.errors_shown)
    assert window.isVisible() and window.session.volume is None


def test_keys_wheel_slider(window, nifti_path, qtbot):
    window.open_path(nifti_path)
    axial = window.views["axial"]
    s = window.session
    start = s.current_slice
    qtbot.keyClick(axial, Qt.Key.Key_Up)
    assert s.current_slice == start + 1
    qtbot.keyClick(axial, Qt.Key.Key_Down)
    qtbot.keyClick(axial, Qt.Key.Key_Down)
    assert s.current_slice == start - 1
    qtbot.keyClick(axial, Qt.Key.Key_PageUp)
    assert s.current_slice == s.n_slices - 1
    qtbot.keyClick(axial, Qt.Key.Key_PageDown)
    assert s.current_slice == 0
    send_wheel(axial.graphics.viewport(), 1)
    assert s.current_slice == 1
    axial.slider.setValue(4)
    assert s.current_slice == 4
    assert "5/6" in axial.info.text() and "z =" in axial.info.text()
    expected = s.volume.array[4]
    assert np.array_equal(axial.image.image, expected)


def test_presets_by_key_and_right_drag(window, nifti_path, qtbot):
    window.open_path(nifti_path)
    axial = window.views["axial"]
    s = window.session
    qtbot.keyClick(axial, Qt.Key.Key_2)
    assert s.window == Window(350, 40)
    qtbot.keyClick(axial, Qt.Key.Key_3)
    assert s.window == Window(2000, 300)
    assert axial.image.levels is not None and tuple(np.ravel(axial.image.levels)) == (-700.0, 1300.0)
    qtbot.keyClick(axial, Qt.Key.Key_1)
    start = s.window
    vp = axial.graphics.viewport()
    p0 = QPoint(vp.width() // 2, vp.height() // 2)
    right = Qt.MouseButton.RightButton
    send_mouse(vp, QEvent.Type.MouseButtonPress, p0, right, right)
    for step in range(1, 6):
        send_mouse(vp, QEvent.Type.MouseMove, p0 + QPoint(12 * step, -8 * step), Qt.MouseButton.NoButton, right)
    send_mouse(vp, QEvent.Type.MouseButtonRelease, p0 + QPoint(60, -40), right, Qt.MouseButton.NoButton)
    assert s.window.width > start.width  # dragged right: wider
    assert s.window.level > start.level  # dragged up: higher level


def test_click_moves_crosshair_in_three_views(window, nifti_path, qtbot):
    window.open_path(nifti_path)
    window.set_layout("three")
    coronal = window.views["coronal"]
    assert coronal.isVisible() and coronal.cross_v.isVisible()
    z, y, x = window.session.position
    window.session.set_position((1, 10, 7))
    assert coronal.index == 10 and window.views["sagittal"].index == 7
    assert coronal.cross_v.value() == pytest.approx((7 + 0.5) * 0.8)
    # coronal rows are z flipped (superior up): slice 1 of 6 is row 4
    assert coronal.cross_h.value() == pytest.approx((4 + 0.5) * 2.5)
    assert np.array_equal(coronal.image.image, window.session.volume.array[::-1, 10, :])


def test_recent_files_are_remembered(window, nifti_path):
    from viewer.settings import open_settings, recent_files

    window.open_path(nifti_path)
    assert recent_files(open_settings())[0] == str(nifti_path.resolve())
    assert [a.text() for a in window.recent_menu.actions()] == [str(nifti_path.resolve())]
