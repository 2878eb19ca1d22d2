"""Opening from the menus reads the CT on a worker thread: the window stays usable."""
from __future__ import annotations

import numpy as np

from tests.core_models.test_io_dicom import write_series


def _wait_loaded(window, qtbot) -> None:
    qtbot.waitUntil(lambda: not window.loader.busy, timeout=20000)


def test_open_in_background_returns_at_once_and_shows_the_volume(window, nifti_path, qtbot):
    assert window.open_in_background(nifti_path)
    assert window.loader.busy and window.session.volume is None  # not read on the GUI thread
    _wait_loaded(window, qtbot)
    assert window.session.volume is not None and window.session.path == nifti_path
    assert window.session.volume.shape == (6, 48, 40)
    assert "opened small.nii.gz" in window.statusBar().currentMessage()
    assert window.windowTitle().startswith("LesionLoop") and nifti_path.name in window.windowTitle()


def test_a_bad_file_is_a_one_line_message_and_the_old_volume_stays(window, nifti_path, tmp_path, qtbot):
    window.open_path(nifti_path)
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"not a nifti file at all")
    window.open_in_background(broken)
    _wait_loaded(window, qtbot)
    assert len(window.errors_shown) == 1 and "\n" not in window.errors_shown[0]
    assert "broken.nii.gz" in window.errors_shown[0]
    assert window.session.path == nifti_path  # what was open is still open


def test_a_newer_request_supersedes_a_pending_one(window, nifti_path, tmp_path, qtbot):
    from core_models.io import write_volume
    from tests.viewer.conftest import make_volume

    other = write_volume(make_volume(nz=9, seed=3), tmp_path / "other.nii.gz")
    window.open_in_background(nifti_path)
    window.open_in_background(other)
    _wait_loaded(window, qtbot)
    qtbot.wait(200)  # let any late signal of the first request arrive (it must be dropped)
    assert window.session.path == other and window.session.volume.shape[0] == 9


def test_a_folder_with_two_series_asks_which_then_reads_it(window, tmp_path, qtbot, monkeypatch):
    folder = tmp_path / "dicom"
    folder.mkdir()
    write_series(folder, "1.2.3.4.11", [0.0, 2.0, 4.0, 6.0], 0, "big")
    write_series(folder, "1.2.3.4.22", [0.0, 3.0], 100, "small")
    offered: list[int] = []

    def choose(found, parent=None):
        offered.append(len(found))
        return [i for i, info in enumerate(found) if info.n_slices == 2][0]

    monkeypatch.setattr("viewer.loading.choose_series_dialog", choose)
    window.open_in_background(folder)
    _wait_loaded(window, qtbot)
    assert offered == [2]
    volume = window.session.volume
    assert volume.shape[0] == 2 and np.all(volume.array[0] == 100)


def test_cancelling_the_series_choice_opens_nothing(window, tmp_path, qtbot, monkeypatch):
    folder = tmp_path / "dicom"
    folder.mkdir()
    write_series(folder, "1.2.3.4.11", [0.0, 2.0], 0, "a")
    write_series(folder, "1.2.3.4.22", [0.0, 3.0], 100, "b")
    monkeypatch.setattr("viewer.loading.choose_series_dialog", lambda found, parent=None: None)
    window.open_in_background(folder)
    _wait_loaded(window, qtbot)
    assert window.session.volume is None and not window.errors_shown
