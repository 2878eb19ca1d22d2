"""Workspace create / save / open, review state, provenance, locating, bad folders."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from core_models.editing import LabelEdit
from core_models.errors import InputError
from core_models.io import read_labels
from core_models.prediction import RoI
from core_models.volume import CTVolume, Geometry, LabelMap
from core_models.workspace import (STATUSES, SliceReview, Workspace, default_workspace_dir, find_workspace,
                                   read_review)
from tests.core_models.workspace_helpers import GEOMETRY, prediction, small_volume, stroke_edit
from training.data.workspace import workspace_records


@pytest.fixture()
def volume() -> CTVolume:
    return small_volume()


@pytest.fixture()
def ct_file(tmp_path: Path, volume: CTVolume) -> Path:
    from core_models.io import write_volume

    return write_volume(volume, tmp_path / "scan.nii.gz")


def _roi() -> RoI:
    return RoI((5.0, 4.0, 15.0, 12.0), 1, 0.87654, np.zeros((28, 28), np.float16))


def test_create_writes_a_complete_workspace(tmp_path, volume, ct_file):
    pred = prediction(volume)
    ws = Workspace.create(tmp_path / "ws", ct_file, volume, pred, model_version="v0007")
    names = {p.name for p in (tmp_path / "ws").iterdir()}
    assert {"review.json", "labels.nii.gz", "labels.seg.nrrd", "prediction.nii.gz", "journal.jsonl"} <= names
    assert np.array_equal(ws.corrected.array, pred.array) and ws.corrected.array is not pred.array
    assert not ws.dirty and ws.progress() == (0, volume.shape[0])
    assert ws.ct_path.is_absolute()
    with pytest.raises(InputError, match="already holds a workspace"):
        Workspace.create(tmp_path / "ws", ct_file, volume, pred)


def test_round_trip_keeps_labels_geometry_and_review_state(tmp_path, volume, ct_file):
    ws = Workspace.create(tmp_path / "ws", ct_file, volume, prediction(volume), model_version="v0007")
    for n in range(1, 6):
        edit = stroke_edit(ws.corrected.array, seed=3, number=n)
        if edit is not None:
            ws.apply_edit(edit)
    ws.set_status(1, "accepted")
    ws.set_status(3, "corrected", note="vessel, not GGO")
    ws.set_status(4, "flagged")
    ws.set_status(4, "unreviewed")  # back to unreviewed without note: forgotten
    ws.set_status(5, "unreviewed", note="check with Dr. B")
    ws.confirm_roi(1, _roi())
    ws.confirm_roi(1, _roi())  # twice is once
    assert ws.dirty
    expected_counts = dict(ws.edit_counts)
    assert sum(expected_counts.values()) >= 4
    ws.save()
    assert not ws.dirty

    back = Workspace.open(tmp_path / "ws", volume)
    assert back.pending_recovery() == 0
    assert np.array_equal(back.corrected.array, ws.corrected.array)
    assert back.corrected.geometry == GEOMETRY and back.predicted is not None
    assert np.array_equal(back.predicted.array, prediction(volume).array)
    assert {z: back.status(z) for z in range(6)} == {0: "unreviewed", 1: "accepted", 2: "unreviewed",
                                                    3: "corrected", 4: "unreviewed", 5: "unreviewed"}
    assert back.reviews[3].note == "vessel, not GGO" and back.reviews[5].note == "check with Dr. B"
    assert 4 not in back.reviews
    assert back.reviews[3].user and back.reviews[3].time.endswith("Z")
    assert back.confirmed == {1: [{"box": [5.0, 4.0, 15.0, 12.0], "label": 1, "score": 0.8765}]}
    assert back.model_version == "v0007" and back.edit_counts == expected_counts
    assert back.progress() == (2, 6)
    # the files on their own: geometry written along, Slicer segmentation carries the same labels
    on_disk = read_labels(tmp_path / "ws" / "labels.nii.gz")
    np.testing.assert_allclose(on_disk.geometry.spacing, GEOMETRY.spacing, atol=1e-5)
    np.testing.assert_allclose(on_disk.geometry.origin, GEOMETRY.origin, atol=1e-3)
    np.testing.assert_allclose(on_disk.geometry.direction, GEOMETRY.direction, atol=1e-6)
    assert np.array_equal(read_labels(tmp_path / "ws" / "labels.seg.nrrd").array, ws.corrected.array)


def test_review_json_stays_readable_by_training(tmp_path, volume, ct_file):
    ws = Workspace.create(tmp_path / "ws", ct_file, volume, prediction(volume))
    ws.set_status(1, "accepted")
    ws.set_status(2, "flagged", note="unsure")
    ws.set_status(3, "corrected")
    ws.save()
    data = json.loads((tmp_path / "ws" / "review.json").read_text())
    assert data["slices"] == {"1": "accepted", "2": "flagged", "3": "corrected"}
    assert data["provenance"]["app"].startswith("LesionLoop ") and data["journal_seq"] == 3
    assert read_review(tmp_path / "ws")["slices"] == {1: "accepted", 2: "flagged", 3: "corrected"}
    assert [r.z for r in workspace_records(tmp_path / "ws")] == [1, 3]


def test_corrected_array_is_shared_with_the_caller(tmp_path, volume, ct_file):
    shared = LabelMap(np.zeros(volume.shape, np.uint8), Geometry())
    ws = Workspace.create(tmp_path / "ws", ct_file, volume, corrected=shared)
    assert ws.corrected.array is shared.array and ws.corrected.geometry == GEOMETRY
    shared.array[2, 0:3, 0:3] = 2  # the viewer paints, then records
    ws.record_edit(LabelEdit.from_arrays(np.zeros((1, 3, 3), np.uint8), np.full((1, 3, 3), 2, np.uint8), (2, 0, 0)))
    assert ws.edit_counts == {2: 1} and ws.dirty


def test_status_and_slice_checks(tmp_path, volume, ct_file):
    ws = Workspace.create(tmp_path / "ws", ct_file, volume)
    with pytest.raises(InputError, match="unknown review status"):
        ws.set_status(0, "maybe")
    with pytest.raises(InputError, match="does not exist"):
        ws.set_status(6, "accepted")
    ws.set_status(0, "flagged", note="a")
    ws.set_status(0, "accepted")  # note None keeps the note
    assert ws.reviews[0] == SliceReview("accepted", "a", ws.reviews[0].user, ws.reviews[0].time)
    assert set(STATUSES) == {"unreviewed", "accepted", "corrected", "flagged"}


def _broken(tmp_path: Path, volume: CTVolume, ct_file: Path, how: str) -> Path:
    ws = Workspace.create(tmp_path / "ws", ct_file, volume)
    folder = ws.folder
    review = folder / "review.json"
    if how == "garbage json":
        review.write_text("{not json")
    elif how == "foreign json":
        review.write_text(json.dumps({"format": "something-else", "ct": "x"}))
    elif how == "no labels":
        (folder / "labels.nii.gz").unlink()
    elif how == "broken labels":
        (folder / "labels.nii.gz").write_bytes(os.urandom(300))
    elif how == "bad status":
        data = json.loads(review.read_text())
        data["slices"] = {"2": "maybe"}
        review.write_text(json.dumps(data))
    elif how == "slice outside":
        data = json.loads(review.read_text())
        data["notes"] = {"60": {"note": "x", "user": "u", "time": "t"}}
        review.write_text(json.dumps(data))
    return folder


@pytest.mark.parametrize("how, message", [("garbage json", "not readable JSON"), ("foreign json", "not a LesionLoop"),
                                          ("no labels", "is missing"), ("broken labels", "labels.nii.gz"),
                                          ("bad status", "status 'maybe'"), ("slice outside", "slice 60")])
def test_broken_workspace_is_one_line_input_error(tmp_path, volume, ct_file, how, message):
    folder = _broken(tmp_path, volume, ct_file, how)
    with pytest.raises(InputError, match=message) as info:
        Workspace.open(folder, volume)
    assert "\n" not in str(info.value)


def test_foreign_folders_are_refused(tmp_path, volume):
    with pytest.raises(InputError, match="not a folder"):
        Workspace.open(tmp_path / "missing")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match="not a LesionLoop workspace"):
        Workspace.open(tmp_path / "other")


def test_labels_on_another_grid_are_refused(tmp_path, volume, ct_file):
    Workspace.create(tmp_path / "ws", ct_file, volume)
    other_shape = small_volume((6, 48, 41))
    with pytest.raises(InputError, match="shape"):
        Workspace.open(tmp_path / "ws", other_shape)
    moved = CTVolume(volume.array, Geometry(GEOMETRY.spacing, (0.0, 0.0, 0.0), GEOMETRY.direction))
    with pytest.raises(InputError, match="another grid"):
        Workspace.open(tmp_path / "ws", moved)
    foreign = GEOMETRY.apply_to(sitk.GetImageFromArray(np.full(volume.shape, 7, np.uint8)))
    sitk.WriteImage(foreign, str(tmp_path / "ws" / "labels.nii.gz"))
    with pytest.raises(InputError, match="label values"):
        Workspace.open(tmp_path / "ws", volume)


def test_workspace_lives_next_to_writable_data(tmp_path, volume, ct_file):
    assert default_workspace_dir(ct_file) == tmp_path / "scan.nii.gz.lesionloop"
    assert find_workspace(ct_file) is None
    Workspace.create(default_workspace_dir(ct_file), ct_file, volume)
    assert find_workspace(ct_file) == tmp_path / "scan.nii.gz.lesionloop"


def test_read_only_data_folder_puts_the_workspace_under_home(tmp_path, volume, monkeypatch):
    from core_models.io import write_volume

    data = tmp_path / "readonly"
    data.mkdir()
    ct = write_volume(volume, data / "scan.nii.gz")
    data.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere: let os.access answer as it would for a user
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: (Path(p) != data or not mode & os.W_OK)
                            and real_access(p, mode, **kw))
    try:
        folder = default_workspace_dir(ct)
        home = Path(os.environ["LESIONLOOP_HOME"])
        assert folder.parent == home / "workspaces" and folder.name.startswith("scan.nii.gz-")
        assert len(folder.name.rsplit("-", 1)[1]) == 8
        other = tmp_path / "elsewhere" / "scan.nii.gz"  # same name, other path: other workspace
        assert default_workspace_dir(other) != folder
        Workspace.create(folder, ct, volume)
        assert find_workspace(ct) == folder and not (data / "scan.nii.gz.lesionloop").exists()
    finally:
        data.chmod(0o755)


def test_a_workspace_beside_its_data_moves_with_it(tmp_path, volume) -> None:
    import shutil

    from core_models.io import write_volume

    (tmp_path / "site").mkdir()
    ct_path = write_volume(volume, tmp_path / "site" / "scan.nii.gz")
    folder = default_workspace_dir(ct_path)
    assert folder.parent == ct_path.parent
    ws = Workspace.create(folder, ct_path, volume)
    ws.set_status(1, "accepted")
    ws.save()
    ws.close()
    shutil.move(str(tmp_path / "site"), str(tmp_path / "moved"))
    moved = tmp_path / "moved" / folder.name
    review = read_review(moved)
    assert review["ct"].resolve() == (tmp_path / "moved" / ct_path.name).resolve()
    assert Workspace.open(moved).status(1) == "accepted"
