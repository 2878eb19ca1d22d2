"""A workspace open in another LesionLoop (a real child process holding its lock): the viewer asks;
Cancel leaves it alone, Open anyway takes it; closing the series or the window gives our lock back."""
from __future__ import annotations

import json
import os
import socket

import numpy as np
import pytest

from core_models.editing import LabelEdit
from core_models.io import read_volume, write_volume
from core_models.workspace.review import current_user
from core_models.workspace import JOURNAL_FILE, LOCK_FILE, WORKSPACE_FILE, Workspace, default_workspace_dir
from tests.core_models.test_workspace_lock import locked_by_child, release_child
from tests.viewer.conftest import make_volume
from tests.viewer.test_review_workspace import _answer_box


def _box_edit(labels: np.ndarray, z: int, value: int) -> LabelEdit:
    mask = np.zeros(labels.shape[1:], bool)
    mask[10:16, 10:16] = True
    return LabelEdit.from_mask(labels, z, mask, value)


def _holder(folder) -> int:
    return json.loads((folder / LOCK_FILE).read_text())["pid"]


@pytest.fixture()
def saved_workspace(nifti_path):
    """A saved workspace of ``nifti_path`` with slice 1 accepted, closed (no lock)."""
    ws = Workspace.create(default_workspace_dir(nifti_path), nifti_path, read_volume(nifti_path))
    ws.set_status(1, "accepted")
    ws.save()
    ws.close()
    return ws.folder


@pytest.mark.parametrize("prompts", [True, False])
def test_cancel_leaves_a_workspace_open_elsewhere_alone(window, nifti_path, saved_workspace, monkeypatch, prompts):
    folder = saved_workspace
    saved = {name: (folder / name).read_bytes() for name in (WORKSPACE_FILE, JOURNAL_FILE, "labels.nii.gz")}
    asked: list[str] = []
    _answer_box(monkeypatch, "Cancel", asked)
    window.review.prompts = prompts  # offscreen (False) nothing is asked and the answer is Cancel
    c, s = window.review.controller, window.session
    said: list[str] = []
    c.statusMessage.connect(said.append)
    with locked_by_child(folder) as child:
        assert window.open_path(nifti_path)  # the CT opens, its workspace does not
        if prompts:
            assert len(asked) == 1
            assert asked[0].startswith(f"This workspace is open in LesionLoop by {current_user()} on "
                                       f"{socket.gethostname()} (pid {child.pid}) since ")
            assert asked[0].endswith("Open it anyway?")
        else:
            assert asked == []
        assert c.workspace is None and c.busy == folder
        assert window.windowTitle() == f"LesionLoop — {nifti_path.name} — not saved: open in another LesionLoop"
        assert said == [f"workspace {folder} not opened: it is open in LesionLoop by {current_user()} on "
                        f"{socket.gethostname()} (pid {child.pid})"]
        assert s.review_status(1) == "unreviewed"  # its statuses were not loaded
        # edits and statuses here never create a workspace over it
        assert s.apply_edit(_box_edit(s.editable_labels().array, 2, 1))
        assert not window.review.toggle("accepted")
        assert c.workspace is None
        assert "open in LesionLoop by" in window.errors_shown[-1] and "Save workspace as" in window.errors_shown[-1]
        assert {name: (folder / name).read_bytes() for name in saved} == saved
        assert _holder(folder) == child.pid
        assert sorted(p.name for p in folder.parent.iterdir() if p.name.endswith(".lesionloop")) == [folder.name]
        release_child(child)
    window.review.prompts = False


def test_open_anyway_takes_the_lock_and_closing_gives_it_back(window, nifti_path, saved_workspace, tmp_path,
                                                              monkeypatch):
    folder = saved_workspace
    asked: list[str] = []
    _answer_box(monkeypatch, "Open anyway", asked)
    window.review.prompts = True
    c, s = window.review.controller, window.session
    said: list[str] = []
    c.statusMessage.connect(said.append)
    with locked_by_child(folder) as child:
        assert window.open_path(nifti_path)
        assert len(asked) == 1 and c.workspace is not None and c.busy is None
        assert _holder(folder) == os.getpid() and c.workspace.lock.taken_from == "forced"
        assert s.review_status(1) == "accepted" and any(m.startswith("took workspace") for m in said)
        release_child(child)  # the other window closes: our lock stays
        assert _holder(folder) == os.getpid()
    assert s.apply_edit(_box_edit(s.editable_labels().array, 2, 2))
    assert c.save() == folder
    # opening another series (closing this one) gives the lock back; the new one's workspace is ours
    second = write_volume(make_volume(nz=4, seed=3), tmp_path / "second.nii.gz")
    assert window.open_path(second)
    assert not (folder / LOCK_FILE).exists()
    assert window.review.toggle("accepted")
    assert _holder(default_workspace_dir(second)) == os.getpid()
    assert c.save() == default_workspace_dir(second)  # nothing unsaved: switching back asks nothing about saving
    # back to the first: nothing is asked now, it is loaded and locked; closing the window unlocks both
    assert window.open_path(nifti_path)
    assert len(asked) == 1 and s.review_status(2) == "corrected" and _holder(folder) == os.getpid()
    assert not (default_workspace_dir(second) / LOCK_FILE).exists()
    window.review.prompts = False
    assert window.close()
    assert not (folder / LOCK_FILE).exists() and c.workspace is None
