"""Workspace lock (``lock.json``) against real child processes, and the clean-up of interrupted saves' temp files."""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core_models.atomic import atomic_path
from core_models.errors import InputError
from core_models.workspace import LOCK_FILE, Workspace, WorkspaceBusy, WorkspaceLock, export_workspace
from core_models.atomic import is_atomic_temp
from tests.core_models.workspace_helpers import prediction, small_volume
from training.data.workspace import workspace_records

REPO = Path(__file__).resolve().parents[2]

HOLDER = """
import sys
from core_models.workspace.lock import WorkspaceLock
lock = WorkspaceLock.acquire(sys.argv[1])
print("locked", flush=True)
sys.stdin.readline()
lock.release()
print("released", flush=True)
"""


def _child(code: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO, env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@contextlib.contextmanager
def locked_by_child(folder: Path) -> Iterator[subprocess.Popen]:
    """A live child process holding the lock of ``folder`` until :func:`release_child` (or the end)."""
    proc = _child(HOLDER, str(folder))
    try:
        line = proc.stdout.readline()
        assert line.strip() == "locked", proc.stderr.read() if proc.poll() is not None else line
        yield proc
    finally:
        if proc.poll() is None:
            proc.stdin.close()
            proc.wait(timeout=60)


def release_child(proc: subprocess.Popen) -> None:
    """Let the holder release its lock and exit."""
    proc.stdin.write("\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == "released"
    proc.wait(timeout=60)


def dead_pid() -> int:
    """The pid of a child process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=60)
    return proc.pid


def _lock_data(folder: Path) -> dict:
    return json.loads((folder / LOCK_FILE).read_text())


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    out = tmp_path / "ws"
    out.mkdir()
    return out


def test_acquire_writes_the_holder_and_release_deletes_it(folder):
    lock = WorkspaceLock.acquire(folder)
    data = _lock_data(folder)
    assert data["pid"] == os.getpid() and data["host"] == socket.gethostname()
    assert data["user"] and data["app"].startswith("LesionLoop ")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["since"])
    assert lock.taken_from is None and not lock.reentered
    lock.release()
    assert not (folder / LOCK_FILE).exists()
    lock.release()  # twice: nothing happens
    other = WorkspaceLock.acquire(folder)
    (folder / LOCK_FILE).unlink()
    other.release()  # the file is gone already: no error


def test_the_lock_is_reentrant_within_a_process(folder):
    first = WorkspaceLock.acquire(folder)
    second = WorkspaceLock.acquire(folder)
    assert second.reentered and not first.reentered
    first.release()
    assert _lock_data(folder)["pid"] == os.getpid()  # the second holder still has it
    second.release()
    assert not (folder / LOCK_FILE).exists()


def test_a_live_process_holding_it_makes_us_wait(folder):
    with locked_by_child(folder) as child:
        before = (folder / LOCK_FILE).read_bytes()
        with pytest.raises(WorkspaceBusy) as caught:
            WorkspaceLock.acquire(folder)
        busy = caught.value
        assert isinstance(busy, InputError)
        assert busy.pid == child.pid and busy.host == socket.gethostname()
        assert busy.user == _lock_data(folder)["user"] and busy.since == _lock_data(folder)["since"]
        message = str(busy)
        assert "\n" not in message
        assert all(part in message for part in (busy.user, busy.host, f"pid {child.pid}", busy.since))
        assert (folder / LOCK_FILE).read_bytes() == before  # untouched
        release_child(child)
    assert not (folder / LOCK_FILE).exists()
    with WorkspaceLock.acquire(folder) as lock:  # free again
        assert lock.taken_from is None and _lock_data(folder)["pid"] == os.getpid()


def test_force_takes_it_and_the_old_holder_does_not_delete_ours(folder):
    with locked_by_child(folder) as child:
        lock = WorkspaceLock.acquire(folder, force=True)
        assert lock.taken_from == "forced" and _lock_data(folder)["pid"] == os.getpid()
        release_child(child)  # its release must leave our lock alone
        assert _lock_data(folder)["pid"] == os.getpid()
        lock.release()
    assert not (folder / LOCK_FILE).exists()


def test_a_dead_holder_on_this_host_is_taken_over(folder):
    pid = dead_pid()
    (folder / LOCK_FILE).write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "user": "crashed",
                                                "since": "2020-01-01T00:00:00Z"}))
    lock = WorkspaceLock.acquire(folder)
    assert lock.taken_from == "stale" and _lock_data(folder)["pid"] == os.getpid()
    lock.release()
    assert not (folder / LOCK_FILE).exists()


def test_a_holder_on_another_host_cannot_be_checked_so_it_holds(folder):
    (folder / LOCK_FILE).write_text(json.dumps({"pid": dead_pid(), "host": "not-" + socket.gethostname(),
                                                "user": "bob", "since": "2020-01-01T00:00:00Z"}))
    with pytest.raises(WorkspaceBusy, match="by bob on not-"):
        WorkspaceLock.acquire(folder)
    assert _lock_data(folder)["user"] == "bob"
    assert WorkspaceLock.acquire(folder, force=True).taken_from == "forced"


@pytest.mark.parametrize("content", [b"{not json", b'{"pid": "12", "host": "h"}', b"[1, 2]", b"\xff\xfe", b""])
def test_a_garbage_lock_file_is_taken_over(folder, content):
    path = folder / LOCK_FILE
    path.write_bytes(content)
    os.utime(path, (1_000_000_000, 1_000_000_000))  # old: not a lock being written right now
    lock = WorkspaceLock.acquire(folder)
    assert lock.taken_from == "stale" and _lock_data(folder)["pid"] == os.getpid()
    lock.release()


def test_release_never_deletes_a_lock_of_another_pid(folder):
    lock = WorkspaceLock.acquire(folder)
    theirs = {"pid": os.getpid() + 1, "host": socket.gethostname(), "user": "x", "since": "2020-01-01T00:00:00Z"}
    (folder / LOCK_FILE).write_text(json.dumps(theirs))  # someone took it over meanwhile
    lock.release()
    assert _lock_data(folder) == theirs


@pytest.mark.parametrize("name", ["labels.nii.gz", "labels.seg.nrrd", "review.json", "journal.jsonl", "lock.json",
                                  "noext"])
def test_the_temp_pattern_matches_what_atomic_path_makes(tmp_path, name):
    with atomic_path(tmp_path / name) as tmp:
        tmp.write_bytes(b"x")
        assert is_atomic_temp(tmp.name)
    assert not is_atomic_temp(name)


KILLED_SAVE = """
import os, sys
from pathlib import Path
from core_models.atomic import atomic_path
with atomic_path(Path(sys.argv[1]) / "labels.nii.gz") as tmp:
    tmp.write_bytes(b"half a file")
    os._exit(9)  # killed mid-save: the temp file stays
"""


def test_open_with_lock_removes_temp_files_of_killed_saves_and_nothing_else(tmp_path):
    volume = small_volume()
    ws = Workspace.create(tmp_path / "w", tmp_path / "scan.nii.gz", volume, prediction(volume))
    ws.close()
    folder = ws.folder
    proc = _child(KILLED_SAVE, str(folder))
    assert proc.wait(timeout=60) == 9
    killed = [p.name for p in folder.iterdir() if p.name.startswith(".labels.nii.gz.")]
    assert len(killed) == 1
    planted = ".review.json.k3x_9a0q.tmp.json"
    keep = ["notes.tmp", ".labels.nii.gz.tmp.nii.gz", ".labels.nii.gz.abcdefgh.tmp.nrrd",
            "x.labels.nii.gz.abcdefgh.tmp.nii.gz", ".labels.nii.gz.ABCDEFGH.tmp.nii.gz"]
    for name in [planted, *keep]:
        (folder / name).write_bytes(b"litter")
    (folder / ".journal.jsonl.abcdefgh.tmp.jsonl").mkdir()  # a folder, not a temp file
    keep.append(".journal.jsonl.abcdefgh.tmp.jsonl")
    Workspace.open(folder).close()
    assert (folder / planted).exists()  # readers never clean
    opened = Workspace.open(folder, volume, lock=True)
    assert opened.removed_temp_files == 2
    assert not (folder / planted).exists() and not (folder / killed[0]).exists()
    assert all((folder / name).exists() for name in keep)
    assert {"labels.nii.gz", "review.json", "labels.seg.nrrd", "prediction.nii.gz"} <= {p.name for p in
                                                                                           folder.iterdir()}
    assert _lock_data(folder)["pid"] == os.getpid()
    opened.close()
    assert opened.lock is None and not (folder / LOCK_FILE).exists()


def test_workspace_open_and_create_lock_against_another_process(tmp_path):
    from core_models.io import write_volume

    volume = small_volume()
    ct = write_volume(volume, tmp_path / "scan.nii.gz")
    ws = Workspace.create(tmp_path / "w", ct, volume, lock=True)
    assert ws.lock is not None and _lock_data(ws.folder)["pid"] == os.getpid()
    ws.set_status(1, "accepted")
    ws.save()
    ws.close()
    assert not (ws.folder / LOCK_FILE).exists()
    (ws.folder / ".review.json.abcdefgh.tmp.json").write_bytes(b"litter")
    with locked_by_child(ws.folder) as child:
        with pytest.raises(WorkspaceBusy):
            Workspace.open(ws.folder, volume, lock=True)
        assert _lock_data(ws.folder)["pid"] == child.pid
        # readers do not lock: the training reader, a plain open and export still work
        assert [r.z for r in workspace_records(ws.folder)] == [1]
        assert Workspace.open(ws.folder).status(1) == "accepted"
        assert export_workspace(ws.folder, tmp_path / "out", ("nifti",))
        forced = Workspace.open(ws.folder, volume, lock=True, force=True)
        assert forced.lock.taken_from == "forced" and forced.removed_temp_files == 0  # it may be saving
        assert (ws.folder / ".review.json.abcdefgh.tmp.json").exists()
        forced.close()
        release_child(child)
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    with locked_by_child(fresh):  # another process is creating a workspace here
        with pytest.raises(WorkspaceBusy):
            Workspace.create(fresh, ct, volume, lock=True)
        assert not (fresh / "review.json").exists()


def test_a_read_only_folder_opens_unlocked(tmp_path, monkeypatch):
    volume = small_volume()
    ws = Workspace.create(tmp_path / "w", tmp_path / "scan.nii.gz", volume)
    ws.close()
    real_open = os.open

    def read_only(path, flags, *args):
        if Path(path).name == LOCK_FILE:
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", read_only)
    opened = Workspace.open(ws.folder, volume, lock=True)
    assert opened.lock is None and opened.n_slices == volume.shape[0]
    opened.close()
    def broken(path, flags, *args):
        if Path(path).name == LOCK_FILE:
            raise OSError(errno.EIO, "Input/output error", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", broken)
    with pytest.raises(OSError, match="Input/output"):  # other failures are not hidden
        Workspace.open(ws.folder, volume, lock=True)


def _stale_lock(folder: Path) -> None:
    (folder / LOCK_FILE).write_text(json.dumps({"pid": dead_pid(), "host": socket.gethostname(), "user": "crashed",
                                                "since": "2020-01-01T00:00:00Z"}))


def test_a_takeover_in_progress_is_waited_for_and_a_dead_takers_guard_expires(folder):
    from core_models.workspace.lock import GUARD_SUFFIX

    _stale_lock(folder)
    judged = (folder / LOCK_FILE).read_bytes()
    guard = folder / (LOCK_FILE + GUARD_SUFFIX)
    guard.write_text("{}")  # another process is taking the stale lock over right now
    with pytest.raises(InputError):
        WorkspaceLock.acquire(folder)
    assert (folder / LOCK_FILE).read_bytes() == judged and guard.exists()  # nothing replaced under its guard
    os.utime(guard, (1_000_000_000, 1_000_000_000))  # that taker died long ago
    lock = WorkspaceLock.acquire(folder)
    assert lock.taken_from == "stale" and _lock_data(folder)["pid"] == os.getpid()
    assert not guard.exists()
    lock.release()


RACER = """
import os, sys, time
import core_models.workspace.lock as lock_module
from core_models.workspace.lock import WorkspaceBusy, WorkspaceLock
write = lock_module.atomic_write_json
def slow_write(*args, **kwargs):  # widen the window between judging the file and replacing it
    time.sleep(0.05)
    return write(*args, **kwargs)
lock_module.atomic_write_json = slow_write
go = sys.argv[2]
while not os.path.exists(go):
    time.sleep(0.001)
try:
    lock = WorkspaceLock.acquire(sys.argv[1])
except WorkspaceBusy:
    print("busy", flush=True)
else:
    print("won", lock.taken_from, flush=True)
    sys.stdin.readline()
"""


def test_processes_racing_for_one_stale_lock_are_served_one_after_the_other(folder, tmp_path):
    for round_ in range(2):
        _stale_lock(folder)
        go = tmp_path / f"go{round_}"
        racers = [_child(RACER, str(folder), str(go)) for _ in range(5)]
        go.touch()
        answers = [proc.stdout.readline().split() for proc in racers]
        for proc in racers:
            proc.stdin.close()
            proc.wait(timeout=60)
        assert sorted(a[0] for a in answers) == ["busy"] * 4 + ["won"], answers
        assert [a[1] for a in answers if a[0] == "won"] == ["stale"]
        (folder / LOCK_FILE).unlink(missing_ok=True)  # the winner exited; the next round starts stale again
