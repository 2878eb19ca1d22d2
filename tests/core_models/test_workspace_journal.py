"""The workspace journal: replay, torn and corrupt lines, crashes around save, discarding."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from core_models.errors import ResourceError
from core_models.prediction import RoI
from core_models.volume import CTVolume
from core_models.workspace import Workspace
from core_models.workspace.journal import JournalWriter, decode_record, encode_record, read_journal
from tests.core_models.workspace_helpers import paint, prediction, small_volume, stroke_edit

SEED = 11


@pytest.fixture()
def volume() -> CTVolume:
    return small_volume()


@pytest.fixture()
def ws(tmp_path: Path, volume: CTVolume) -> Workspace:
    return Workspace.create(tmp_path / "ws", tmp_path / "scan.nii.gz", volume, prediction(volume), model_version="v1")


def _strokes(ws: Workspace, first: int, last: int) -> int:
    """Apply strokes first..last; returns how many changed something (and were journalled)."""
    applied = 0
    for n in range(first, last + 1):
        edit = stroke_edit(ws.corrected.array, SEED, n)
        if edit is not None:
            ws.apply_edit(edit)
            applied += 1
    return applied


def _journal(ws: Workspace) -> Path:
    return ws.folder / "journal.jsonl"


def test_records_round_trip_and_crc_catches_changes():
    line = encode_record(5, "status", {"z": 3, "status": "flagged", "note": "Ödem?", "user": "ana", "time": "t"})
    record = decode_record(line.rstrip(b"\n"))
    assert record == {"z": 3, "status": "flagged", "note": "Ödem?", "user": "ana", "time": "t", "seq": 5,
                      "kind": "status"}
    assert decode_record(line.replace(b"flagged", b"accepte")) is None
    assert decode_record(line[:-5]) is None


def test_unsaved_changes_come_back_after_reopen(tmp_path, volume, ws):
    base = ws.corrected.array.copy()
    applied = _strokes(ws, 1, 12)
    ws.set_status(2, "corrected", note="fixed the rim")
    ws.confirm_roi(3, RoI((10.0, 20.0, 20.0, 30.0), 2, 0.5, np.zeros((28, 28), np.float16)))
    counts = dict(ws.edit_counts)
    ws.close()  # no save: as after a crash

    back = Workspace.open(ws.folder, volume)
    assert np.array_equal(back.corrected.array, base)  # open does not replay
    n = back.pending_recovery()
    assert n == len(read_journal(_journal(ws))) == applied + 2 and applied >= 8
    assert back.recover() == n and back.dirty and back.pending_recovery() == 0
    assert np.array_equal(back.corrected.array, paint(base, SEED, 1, 12))
    assert back.status(2) == "corrected" and back.reviews[2].note == "fixed the rim"
    assert back.confirmed[3][0]["label"] == 2 and back.edit_counts == counts
    # recovered, edited further, crashed again: everything is still there
    _strokes(back, 13, 15)
    back.close()
    again = Workspace.open(ws.folder, volume)
    again.recover()
    assert np.array_equal(again.corrected.array, paint(base, SEED, 1, 15))
    again.save()
    assert Workspace.open(ws.folder).pending_recovery() == 0 and _journal(ws).read_bytes() == b""


def test_torn_last_line_is_ignored(ws, volume):
    base = ws.corrected.array.copy()
    _strokes(ws, 1, 6)
    ws.close()
    full = _journal(ws).read_bytes()
    n_full = len(read_journal(_journal(ws)))
    _journal(ws).write_bytes(full + encode_record(n_full + 1, "status", {"z": 1, "status": "accepted", "note": "",
                                                                         "user": "u", "time": "t"})[:-9])
    back = Workspace.open(ws.folder, volume)
    assert back.pending_recovery() == n_full
    back.recover()
    assert np.array_equal(back.corrected.array, paint(base, SEED, 1, 6)) and back.status(1) == "unreviewed"
    back.set_status(4, "flagged")  # appending after a torn line must not hide the new record behind it
    back.close()
    assert read_journal(_journal(ws))[-1]["status"] == "flagged"
    assert Workspace.open(ws.folder).pending_recovery() == n_full + 1


def test_corrupt_record_stops_replay(ws, volume):
    base = ws.corrected.array.copy()
    _strokes(ws, 1, 8)
    ws.close()
    lines = _journal(ws).read_bytes().splitlines(keepends=True)
    assert len(lines) >= 6
    bad = json.loads(lines[3])
    bad["edit"]["new"] = bad["edit"]["new"][::-1] + "A"  # bit rot: the CRC no longer matches
    lines[3] = json.dumps(bad, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    _journal(ws).write_bytes(b"".join(lines))
    back = Workspace.open(ws.folder, volume)
    assert back.pending_recovery() == 3
    back.recover()
    first_three = [r["edit"] for r in read_journal(_journal(ws))]
    assert len(first_three) == 3
    expected = base.copy()
    from core_models.editing import LabelEdit
    for rec in first_three:
        LabelEdit.from_json(rec).apply(expected)
    assert np.array_equal(back.corrected.array, expected)


def test_crash_after_save_before_journal_reset(ws, volume):
    base = ws.corrected.array.copy()
    _strokes(ws, 1, 5)
    ws.set_status(1, "accepted")
    journal_before = _journal(ws).read_bytes()
    ws.save()
    counts = dict(ws.edit_counts)
    _journal(ws).write_bytes(journal_before)  # the reset never happened
    back = Workspace.open(ws.folder, volume)
    assert back.pending_recovery() == 0  # every record is already in the saved state
    assert np.array_equal(back.corrected.array, paint(base, SEED, 1, 5)) and back.edit_counts == counts
    _strokes(back, 6, 7)  # new records go after the stale ones and are found
    back.close()
    again = Workspace.open(ws.folder, volume)
    again.recover()
    assert np.array_equal(again.corrected.array, paint(base, SEED, 1, 7))


def test_crash_after_labels_before_review_json(tmp_path, ws, volume):
    base = ws.corrected.array.copy()
    _strokes(ws, 1, 5)
    ws.set_status(2, "corrected")
    old_review = (ws.folder / "review.json").read_bytes()
    journal_before = _journal(ws).read_bytes()
    counts = dict(ws.edit_counts)
    ws.save()
    # labels written, review.json and journal reset never happened: replaying onto new labels
    (ws.folder / "review.json").write_bytes(old_review)
    _journal(ws).write_bytes(journal_before)
    back = Workspace.open(ws.folder, volume)
    assert back.pending_recovery() == len(read_journal(_journal(ws)))
    back.recover()
    assert np.array_equal(back.corrected.array, paint(base, SEED, 1, 5))
    assert back.edit_counts == counts and back.status(2) == "corrected"


def test_discard_recovery_keeps_the_saved_state(tmp_path, ws, volume):
    _strokes(ws, 1, 3)
    ws.save()
    saved = ws.corrected.array.copy()
    _strokes(ws, 4, 9)
    ws.close()
    back = Workspace.open(ws.folder, volume)
    assert back.pending_recovery() > 0
    with pytest.raises(RuntimeError, match="recover"):
        back.set_status(0, "accepted")
    back.discard_recovery()
    assert back.pending_recovery() == 0 and not back.dirty
    assert np.array_equal(back.corrected.array, saved)
    assert Workspace.open(ws.folder).pending_recovery() == 0
    _strokes(back, 10, 11)
    back.close()
    again = Workspace.open(ws.folder, volume)
    again.recover()
    assert np.array_equal(again.corrected.array, paint(saved, SEED, 10, 11))


def test_failed_journal_write_leaves_no_half_record(tmp_path, monkeypatch):
    writer = JournalWriter(tmp_path / "journal.jsonl", 1)
    writer.append("status", {"z": 0, "status": "accepted", "note": "", "user": "u", "time": "t"})

    def fail(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("core_models.workspace.journal.os.fsync", fail)
    with pytest.raises(ResourceError, match="No space left"):
        writer.append("status", {"z": 1, "status": "flagged", "note": "", "user": "u", "time": "t"})
    monkeypatch.undo()
    writer.append("status", {"z": 2, "status": "flagged", "note": "", "user": "u", "time": "t"})
    assert [r["z"] for r in read_journal(tmp_path / "journal.jsonl")] == [0, 2]


def test_journal_survives_copying_the_folder(tmp_path, ws, volume):
    base = ws.corrected.array.copy()
    _strokes(ws, 1, 4)
    ws.close()
    shutil.copytree(ws.folder, tmp_path / "copy")
    back = Workspace.open(tmp_path / "copy", volume)
    back.recover()
    assert np.array_equal(back.corrected.array, paint(base, SEED, 1, 4))
