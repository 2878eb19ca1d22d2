"""One workspace per DICOM series: locating, recording and checking the series, training and export."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from core_models.errors import InputError
from core_models.io import read_volume, write_volume
from core_models.model_spec import Preprocessing
from core_models.workspace import Workspace, default_workspace_dir, find_workspace, read_review, volume_series
from core_models.workspace.locate import beside_data_dir
from tests.core_models.test_io_dicom import write_series
from tests.core_models.workspace_helpers import small_volume
from training.cli import run_command
from training.data.records import SliceReader
from training.data.sources import collect_records
from training.data.workspace import workspace_records

BIG, SMALL = "1.2.3.4.11", "1.2.3.4.22"
PREP = Preprocessing()


def _tag(uid: str) -> str:
    return hashlib.sha256(uid.encode("utf-8")).hexdigest()[:8]


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """A DICOM folder with a 4-slice series (values 0..3) and a 3-slice one (values 100..102)."""
    dicom = tmp_path / "series3"
    dicom.mkdir()
    write_series(dicom, BIG, [0.0, 2.0, 4.0, 6.0], 0, "big")
    write_series(dicom, SMALL, [0.0, 3.0, 6.0], 100, "small")
    return dicom


def _workspace_of(folder: Path, series: str, z: int, value: int, status: str) -> tuple[Workspace, np.ndarray]:
    volume = read_volume(folder, series=series)
    assert volume_series(volume) == series
    ws = Workspace.create(default_workspace_dir(folder, series), folder, volume)
    ws.corrected.array[z, 2:5, 3:6] = value
    ws.set_status(z, status)
    ws.save()
    ws.close()
    return ws, ws.corrected.array.copy()


def test_two_series_of_one_folder_get_two_workspaces(folder: Path) -> None:
    ws_big, labels_big = _workspace_of(folder, BIG, 3, 1, "accepted")
    ws_small, labels_small = _workspace_of(folder, SMALL, 1, 2, "corrected")
    assert ws_big.folder != ws_small.folder
    assert ws_small.folder == folder.parent / f"series3-{_tag(SMALL)}.lesionloop"
    assert json.loads((ws_small.folder / "review.json").read_text())["series"] == SMALL
    for uid, ws, labels, (z, status) in ((BIG, ws_big, labels_big, (3, "accepted")),
                                         (SMALL, ws_small, labels_small, (1, "corrected"))):
        assert find_workspace(folder, uid) == ws.folder
        volume = read_volume(folder, series=uid)
        again = Workspace.open(find_workspace(folder, uid), volume)
        assert again.series == uid and again.status(z) == status and again.progress() == (1, volume.shape[0])
        assert np.array_equal(again.corrected.array, labels)
        assert read_review(ws.folder)["series"] == uid
    assert find_workspace(folder) is None  # nothing un-suffixed was written


def test_a_workspace_refuses_the_other_series(folder: Path) -> None:
    ws, _ = _workspace_of(folder, SMALL, 0, 1, "accepted")
    with pytest.raises(InputError, match="series 1.2.3.4.22") as info:
        Workspace.open(ws.folder, read_volume(folder, series=BIG))
    assert "\n" not in str(info.value)


def test_training_reads_the_workspaces_own_series(folder: Path) -> None:
    _workspace_of(folder, BIG, 2, 1, "accepted")
    ws, labels = _workspace_of(folder, SMALL, 1, 2, "corrected")
    records = workspace_records(ws.folder)
    assert [(r.z, r.series) for r in records] == [(1, SMALL)]
    sample = SliceReader(PREP).load(records[0])
    small = read_volume(folder, series=SMALL).array[1]
    assert np.array_equal(sample.raw, small) and int(sample.raw[0, 0]) == 101  # not the 4-slice series' 1
    assert np.array_equal(sample.labels, labels[1])
    both = collect_records([find_workspace(folder, BIG), ws.folder])  # same folder and z, other series
    assert sorted((r.series, r.z) for r in both) == [(BIG, 2), (SMALL, 1)]


def test_a_series_gone_from_the_folder_is_a_clear_training_error(folder: Path) -> None:
    ws, _ = _workspace_of(folder, SMALL, 1, 2, "corrected")
    for f in folder.glob("22_*.dcm"):
        f.unlink()
    with pytest.raises(InputError, match="matches no series"):
        workspace_records(ws.folder)


def _old_workspace(ct: Path, volume) -> Workspace:
    """A workspace where LesionLoop put it before series were told apart (no suffix)."""
    ws = Workspace.create(beside_data_dir(ct), ct, volume)
    ws.close()
    return ws


def _forget_series(folder: Path) -> None:
    """Make ``review.json`` look like one written before ``series`` was recorded."""
    data = json.loads((folder / "review.json").read_text())
    del data["series"]
    (folder / "review.json").write_text(json.dumps(data))


def test_old_unsuffixed_workspace_of_a_single_series_folder_is_still_found(tmp_path: Path) -> None:
    single = tmp_path / "one"
    single.mkdir()
    write_series(single, SMALL, [0.0, 3.0, 6.0], 100)
    volume = read_volume(single)
    old = _old_workspace(single, volume)
    old.set_status(2, "flagged")
    old.save()
    _forget_series(old.folder)
    assert find_workspace(single, SMALL) == old.folder
    again = Workspace.open(old.folder, volume)
    assert again.series == SMALL and again.status(2) == "flagged"  # adopts the series from now on


def test_old_unsuffixed_workspace_is_not_taken_for_a_multi_series_folder(folder: Path) -> None:
    _forget_series(_old_workspace(folder, read_volume(folder, series=SMALL)).folder)
    assert find_workspace(folder) == beside_data_dir(folder)
    assert find_workspace(folder, SMALL) is None and find_workspace(folder, BIG) is None


def test_nifti_workspaces_keep_their_names(tmp_path: Path) -> None:
    volume = small_volume((3, 16, 12))
    ct = write_volume(volume, tmp_path / "scan.nii.gz")
    assert volume_series(read_volume(ct)) is None
    folder = default_workspace_dir(ct)
    assert folder == tmp_path / "scan.nii.gz.lesionloop"
    ws = Workspace.create(folder, ct, read_volume(ct))
    ws.set_status(0, "accepted")
    ws.save()
    assert find_workspace(ct) == folder and find_workspace(ct, None) == folder
    assert read_review(folder)["series"] is None
    assert Workspace.open(folder, read_volume(ct)).series is None


def test_export_cli_picks_the_series_workspace(folder: Path, tmp_path: Path, capsys) -> None:
    ws, _ = _workspace_of(folder, SMALL, 1, 2, "corrected")
    assert run_command(["export", str(folder), "--out", str(tmp_path / "out"), "--format", "nifti"]) == 0
    written = capsys.readouterr().out.split()
    assert written == [str(tmp_path / "out" / f"series3-{_tag(SMALL)}_labels.nii.gz")]
    _workspace_of(folder, BIG, 1, 1, "accepted")
    assert run_command(["export", str(folder), "--out", str(tmp_path / "out2")]) != 0
    assert "workspaces of 2 series" in capsys.readouterr().err
    assert run_command(["export", str(ws.folder), "--out", str(tmp_path / "out3"), "--format", "nifti"]) == 0
