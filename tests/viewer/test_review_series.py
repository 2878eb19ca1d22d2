"""Two series of one DICOM folder in the viewer: each has its own workspace, labels and statuses."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import viewer.loading
from core_models.editing import LabelEdit
from core_models.workspace import Workspace, find_workspace
from tests.core_models.test_io_dicom import write_series

BIG, SMALL = "1.2.3.4.11", "1.2.3.4.22"


@pytest.fixture()
def dicom_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "study"
    folder.mkdir()
    write_series(folder, BIG, [0.0, 2.0, 4.0, 6.0], -500, "big")
    write_series(folder, SMALL, [0.0, 3.0, 6.0], -300, "small")
    return folder


def _open(window, folder: Path, index: int, monkeypatch) -> None:
    """Open ``folder`` answering the series dialog with ``index`` (0: the 4-slice series, 1: the 3-slice one)."""
    asked: list[int] = []
    monkeypatch.setattr(viewer.loading, "choose_series_dialog", lambda found, parent=None: asked.append(len(found))
                        or index)
    assert window.open_path(folder)
    assert asked == [2]


def _edit(labels: np.ndarray, z: int, value: int) -> LabelEdit:
    mask = np.zeros(labels.shape[1:], bool)
    mask[2:5, 3:7] = True
    return LabelEdit.from_mask(labels, z, mask, value)


def test_each_series_of_a_folder_keeps_its_own_review(window, dicom_folder, monkeypatch):
    s, c = window.session, window.review.controller
    _open(window, dicom_folder, 0, monkeypatch)
    assert s.n_slices == 4
    assert s.apply_edit(_edit(s.editable_labels().array, 2, 2))
    c.set_status(0, "accepted")
    big_labels = s.corrected.array.copy()
    big_folder = c.save()
    assert big_folder is not None and big_folder == find_workspace(dicom_folder, BIG)

    _open(window, dicom_folder, 1, monkeypatch)  # the other series: no error, its own (empty) state
    assert window.errors_shown == []
    assert s.n_slices == 3 and c.workspace is None and c.blocked is None
    assert [s.review_status(z) for z in range(3)] == ["unreviewed"] * 3
    assert s.corrected is None or not s.corrected.array.any()
    c.set_status(1, "flagged", "small series")
    small_folder = c.save()
    assert small_folder is not None and small_folder != big_folder
    assert Workspace.open(small_folder).series == SMALL

    _open(window, dicom_folder, 0, monkeypatch)
    assert window.errors_shown == []
    assert c.workspace is not None and c.workspace.folder == big_folder
    assert np.array_equal(s.corrected.array, big_labels)
    assert [s.review_status(z) for z in range(4)] == ["accepted", "unreviewed", "corrected", "unreviewed"]
    _open(window, dicom_folder, 1, monkeypatch)
    assert c.workspace.folder == small_folder and s.review_note(1) == "small series"
    assert s.review_status(1) == "flagged" and not s.corrected.array.any()


def test_save_as_is_remembered_per_series(window, dicom_folder, tmp_path, monkeypatch):
    c = window.review.controller
    _open(window, dicom_folder, 1, monkeypatch)
    c.set_status(2, "accepted")
    elsewhere = c.save_as(tmp_path / "elsewhere")
    assert elsewhere == tmp_path / "elsewhere"
    _open(window, dicom_folder, 0, monkeypatch)
    assert window.errors_shown == [] and c.workspace is None  # not the other series' chosen folder
    _open(window, dicom_folder, 1, monkeypatch)
    assert c.workspace is not None and c.workspace.folder == elsewhere
    assert window.session.review_status(2) == "accepted"
